"""The flatness analyses of a study as tables: one row per run, the curves in long form, and the summary that
puts flatness beside the score, with paired differences to fine-tuning (the "SWA finds flatter minima" link):
each measure's paired Student-t interval, and † where the Holm-adjusted paired t-test passes (statistics.py).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import pandas as pd

from .io import read_json
from .statistics import ALPHA, MIN_PAIRS, significance_table

RUN_COLUMNS = ["task", "method", "base_method", "seed", "score", "loss", "sharpness_radius", "sharpness",
               "top_eigenvalue", "power_iterations", "converged", "trace", "trace_error", "measure_seconds",
               "job_seconds", "train_seconds", "ratio_to_training"]
MEASURES = {"sharpness": "sharpness", "top_eigenvalue": "λ_max", "trace": "tr(H)"}


def load_flatness(paths: Iterable[str | Path], scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                           pd.DataFrame]:
    """(one row per run, perturbation curves, interpolation points) from flatness.json files; `scores` (task,
    method, seed, score) adds each run's dev score."""
    runs, curves, lines = [], [], []
    for path in paths:
        record = read_json(path)
        key = {"task": record["task"], "method": record["method"], "seed": record["seed"]}
        hessian = record.get("hessian", {})
        runs.append({**key, "base_method": record["base_method"], "loss": record["loss"],
                     "sharpness_radius": record["sharpness"]["radius"], "sharpness": record["sharpness"]["value"],
                     "top_eigenvalue": hessian.get("top_eigenvalue", math.nan),
                     "power_iterations": len(hessian.get("power_history", [])),
                     "converged": hessian.get("converged"), "trace": hessian.get("trace", math.nan),
                     "trace_error": hessian.get("trace_error", math.nan),
                     **{k: record["cost"][k] for k in ("measure_seconds", "job_seconds", "train_seconds",
                                                       "ratio_to_training")}})
        perturbation = record["perturbation"]
        for radius, losses in zip(perturbation["radii"], perturbation["losses"]):
            curves += [{**key, "radius": radius, "direction": k, "loss": value, "rise": value - record["loss"]}
                       for k, value in enumerate(losses)]
        if record.get("interpolation"):
            lines += [{**key, "line_start": record["line_start"], **point}
                      for point in record["interpolation"]["points"]]
    table = pd.DataFrame(runs)
    if len(table):
        table = table.merge(scores[["task", "method", "seed", "score"]], on=["task", "method", "seed"], how="left")
    return table.reindex(columns=RUN_COLUMNS), pd.DataFrame(curves), pd.DataFrame(lines)


def flatness_summary(table: pd.DataFrame, tasks: list[str], methods: list[str]) -> pd.DataFrame:
    """Per task and method: runs, mean score x100, and mean ± std over seeds of each measure and the cost ratio."""
    rows = []
    for task in tasks:
        for method in methods:
            runs = table[(table.task == task) & (table.method == method)]
            if runs.empty:
                continue
            row = {"task": task, "method": method, "runs": len(runs), "score": runs.score.mean() * 100}
            for key in (*MEASURES, "ratio_to_training"):
                row[f"{key}_mean"], row[f"{key}_std"] = runs[key].mean(), runs[key].std(ddof=1)
            rows.append(row)
    return pd.DataFrame(rows)


def flatness_differences(table: pd.DataFrame, methods: list[str], seed: int = 0,
                         alpha: float = ALPHA) -> pd.DataFrame:
    """Each measure of each method minus finetune's, paired by seed (statistics.significance_table, unscaled;
    Holm's family: one task and one measure)."""
    frames = []
    for key in MEASURES:
        runs = table.rename(columns={key: "value"})[["task", "method", "seed", "value"]].dropna()
        if runs.empty:
            continue
        result = significance_table(runs, methods, references=("finetune",), value="value", seed=seed, scale=1.0,
                                    alpha=alpha)
        frames.append(result.assign(metric=key))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _fmt(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.3g}" if pd.isna(std) else f"{mean:.3g} ± {std:.2g}"


def _difference(r) -> str:
    """Δ [t interval] †, Holm-adjusted p; "no test" where the pairs are too few for one."""
    if not r.testable:
        return ("" if pd.isna(r.difference) else f"{r.difference:+.3g} ") + f"(n={int(r.n)}: no test)"
    return (f"{r.difference:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}]{' †' if r.mark else ''}, "
            f"p {r.p_ttest_holm:.2g}")


def flatness_markdown(summary: pd.DataFrame, differences: pd.DataFrame, radius: float, alpha: float = ALPHA) -> str:
    """The flatness table (score beside sharpness, λ_max, trace, cost) and the paired differences to finetune."""
    lines = ["### Flatness", "", "| Task | Method | Score | Sharpness | λ_max | tr(H) | Analysis / training time |",
             "|---|---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        lines.append(f"| {r.task} | {r.method} | {r.score:.1f} | {_fmt(r.sharpness_mean, r.sharpness_std)} | "
                     f"{_fmt(r.top_eigenvalue_mean, r.top_eigenvalue_std)} | {_fmt(r.trace_mean, r.trace_std)} | "
                     f"{r.ratio_to_training_mean:.2f} |")
    lines += ["", f"Mean ± std over seeds. Sharpness: mean loss rise at radius {radius} (filter-normalised random "
              "directions); λ_max: top eigenvalue of the training-loss Hessian (power iteration); tr(H): "
              "Hutchinson's estimate; all on the same fixed training batches. The last column is the analysis "
              "job's wall time over the run's training time."]
    if len(differences):
        measures = [m for m in MEASURES if m in set(differences.metric)]
        lines += ["", "#### Paired differences to finetune (method - finetune, same seeds)", "",
                  "| Task | Method | n | " + " | ".join(f"Δ {MEASURES[m]} [{100 * (1 - alpha):g} % CI]"
                                                       for m in measures) + " |",
                  "|---|---|---|" + "---|" * len(measures)]
        for (task, method), rows in differences.groupby(["task", "method"], sort=False):
            cells = []
            for measure in measures:
                match = rows[rows.metric == measure]
                cells.append(_difference(match.iloc[0]) if len(match) else "–")
            lines.append(f"| {task} | {method} | {int(rows.n.max())} | " + " | ".join(cells) + " |")
        lines += ["", f"Interval: the paired {100 * (1 - alpha):g} % Student-t interval of the mean difference (per "
                  "comparison); p: the paired t-test, Holm-adjusted over the methods of one task and measure; † that "
                  f"adjusted p < {alpha:g}. \"no test\": fewer than {MIN_PAIRS} seeds paired with finetune. "
                  "Negative: flatter than fine-tuning."]
    return "\n".join(lines) + "\n"
