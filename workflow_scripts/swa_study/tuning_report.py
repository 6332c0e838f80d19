"""The tuning trials as tables and a figure: every trial's held-out score, the setting each method won with, and
each method's expected validation performance against the number of trials (Dodge et al. 2019, "Show Your Work").

Expected validation performance answers "how good is the best of k trials of this method, on average?". With the
n trial scores sorted v(1) <= ... <= v(n) and k trials drawn from them with replacement, the best is v(i) with
probability (i/n)^k - ((i-1)/n)^k, so E[max] = sum_i v(i) w_i and Var[max] = sum_i v(i)^2 w_i - E[max]^2. A method
whose curve only overtakes another's at the right end wins only with more tuning.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .study.tuning import setting_label


def expected_max(scores: list[float] | np.ndarray, k: int) -> tuple[float, float]:
    """Mean and standard deviation of the best of `k` draws (with replacement) from `scores`."""
    values = np.sort(np.asarray(scores, dtype=float))
    n = len(values)
    if n == 0 or k < 1:
        return math.nan, math.nan
    ranks = np.arange(1, n + 1)
    weights = (ranks / n) ** k - ((ranks - 1) / n) ** k
    mean = float(weights @ values)
    return mean, math.sqrt(max(0.0, float(weights @ values ** 2) - mean ** 2))


def trials_frame(records: list[dict], infos: list[dict], selected: list[dict]) -> pd.DataFrame:
    """One row per trial: task, method, trial, its setting, held-out score (x100), cost, and whether it won."""
    cost = {(i["task"], i["method"], i["trial"]): i.get("compute", {}) for i in infos}
    winners = {(s["task"], s["method"]): s["trial"] for s in selected}
    rows = []
    for r in records:
        key = (r["task"], r["method"], r["trial"])
        compute = cost.get(key, {})
        rows.append({"task": r["task"], "method": r["method"], "trial": r["trial"],
                     "setting": setting_label(r["setting"]), "metric": r["main_metric"],
                     "heldout_score": r["heldout"][r["main_metric"]] * 100,
                     "train_seconds": compute.get("train_seconds"), "train_flops": compute.get("train_flops"),
                     "selected": winners.get(key[:2]) == r["trial"]})
    return pd.DataFrame(rows).sort_values(["task", "method", "trial"], kind="stable").reset_index(drop=True)


def expected_validation_curves(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (task, method) and k = 1..n: the expected best held-out score of k trials and its spread (x100)."""
    rows = []
    for (task, method), group in trials.groupby(["task", "method"], sort=False):
        scores = group["heldout_score"].to_numpy()
        for k in range(1, len(scores) + 1):
            mean, std = expected_max(scores, k)
            rows.append({"task": task, "method": method, "k": k, "expected_max": mean, "std": std})
    return pd.DataFrame(rows, columns=["task", "method", "k", "expected_max", "std"])


def _ordered(frame: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(methods)}
    return frame.sort_values(["task", "method"], key=lambda s: s.map(order) if s.name == "method" else s,
                             kind="stable")


def selection_table(trials: pd.DataFrame, curves: pd.DataFrame, tasks: list[str], methods: list[str]) -> pd.DataFrame:
    """Per task and method: the winning setting, its held-out score, and E[max] of 1 and of all trials."""
    rows = []
    for task in tasks:
        for method in methods:
            group = trials[(trials.task == task) & (trials.method == method)]
            if group.empty:
                continue
            won = group[group.selected].iloc[0]
            curve = curves[(curves.task == task) & (curves.method == method)].set_index("k")
            n = int(curve.index.max())
            rows.append({"Task": task, "Method": method, "Chosen setting": f"{won.setting} (trial {won.trial})",
                         "Held-out score": f"{won.heldout_score:.1f}",
                         "E[max] of 1 trial": f"{curve.loc[1, 'expected_max']:.1f} ± {curve.loc[1, 'std']:.1f}",
                         f"E[max] of {n}": f"{curve.loc[n, 'expected_max']:.1f} ± {curve.loc[n, 'std']:.1f}",
                         "Trials (held-out x100)": ", ".join(f"{v:.1f}" for v in group.heldout_score)})
    return pd.DataFrame(rows)


NOTE = ("Each method's trials train once (tuning.seed) on the training rows and are scored on the held-out rows of "
        "the training split (x100, the task's main metric), never on the dev split the summary reports. The best "
        "trial (ties: the lower number) is what the study's seeds train with. E[max] of k trials: the expected best "
        "held-out score of k trials drawn from the method's own (Dodge et al. 2019), ± its standard deviation; "
        "tuning/expected_validation.png draws it for every k.")


def tuning_markdown(selection: pd.DataFrame, study: str, trials: int) -> str:
    from .report import markdown_table

    lines = [f"### Study `{study}`: equal-budget tuning, {trials} trials per method", "",
             *markdown_table(selection), "", NOTE]
    return "\n".join(lines) + "\n"


def plot_expected_validation(curves: pd.DataFrame, tasks: dict[str, str], methods: list[str],
                             path: str | Path) -> None:
    """One panel per task: E[max held-out score] against the number of trials, band = ± one std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import colours

    colour = colours(methods)
    shown = [t for t in tasks if t in set(curves.task)]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for ax, task in zip(axes[0], shown):
        for method in [m for m in methods if m in set(curves[curves.task == task].method)]:
            rows = _ordered(curves[(curves.task == task) & (curves.method == method)], methods)
            ax.plot(rows.k, rows.expected_max, "o-", color=colour[method], label=method, lw=1.5, ms=3)
            ax.fill_between(rows.k, rows.expected_max - rows["std"], rows.expected_max + rows["std"],
                            color=colour[method], alpha=0.15)
        ax.set_xlabel("trials (k)")
        ax.set_ylabel(f"expected best held-out {tasks[task]} x100")
        ax.set_title(f"{task}: expected validation performance", fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
