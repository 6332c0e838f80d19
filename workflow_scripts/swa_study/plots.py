"""The study's figures, one function each, drawn from results/ tables (matplotlib, Agg backend, PNG or SVG).

Per task: the methods' scores with 95 % Student-t intervals and the trivial baseline; training loss and
learning-rate curves per method (the LR curve shows SWA's constant phase); score against compute; the loss and dev
metric along the line from fine-tuning to the averaged weights; the loss rise under random perturbations; score against sharpness over all runs.
Colours follow the study's method order, so one method has one colour in every figure.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from .statistics import ALPHA, paired_t  # noqa: E402


def colours(methods: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}


def save(fig, *paths: str | Path) -> None:
    """Save to each path in the format its name says (a staging name keeps the target's suffix inside it:
    `.scores.svg.x1y2.tmp`), then close the figure."""
    fig.tight_layout()
    for path in paths:
        fig.savefig(path, dpi=120, format="svg" if ".svg" in Path(path).name else "png")
    plt.close(fig)


def plot_scores(runs: pd.DataFrame, methods: list[str], task: str, metric: str, teacher: float | None,
                paths: list[str | Path], alpha: float = ALPHA, floor: float | None = None) -> None:
    """Mean dev score per method with the Student-t interval of the mean over seeds (mean ± t sd / √n: with 3
    seeds a percentile bootstrap would be [min, max], too narrow), each seed as a dot; teacher dashed; the
    trivial baseline (`floor`, majority class or mean score) dotted."""
    runs = runs[runs.task == task]
    shown = [m for m in methods if m in set(runs.method)]
    colour = colours(methods)
    fig, ax = plt.subplots(figsize=(1.6 + 0.75 * len(shown), 3.4))
    for i, method in enumerate(shown):
        scores = runs[runs.method == method]["score"].to_numpy() * 100
        interval = paired_t(scores, alpha)  # the one-sample t interval of the mean (NaN for a single seed)
        mean, low, high = scores.mean(), interval.low, interval.high
        ax.hlines(mean, i - 0.25, i + 0.25, color=colour[method], lw=2.5)  # no bars: the axis does not start at 0
        if not np.isnan(low):
            ax.errorbar(i, mean, yerr=[[mean - low], [high - mean]], color="black", capsize=4, lw=1)
        ax.scatter(np.full(len(scores), i) + np.linspace(-0.15, 0.15, len(scores)), scores, s=16,
                   color=colour[method], zorder=3, alpha=0.8)
    if teacher is not None:
        ax.axhline(teacher * 100, ls="--", color="grey", lw=1, label=f"teacher {teacher * 100:.1f}")
    if floor is not None:
        ax.axhline(floor * 100, ls=":", color="black", lw=1, label=f"trivial baseline {floor * 100:.1f}")
    if teacher is not None or floor is not None:
        ax.legend(fontsize=8, loc="lower right")
    lines = [value * 100 for value in (teacher, floor) if value is not None]
    values = np.append(runs["score"].to_numpy() * 100, lines)
    span = max(1.0, values.max() - values.min())
    ax.set_ylim(values.min() - 0.15 * span, values.max() + 0.15 * span)
    ax.set_xticks(range(len(shown)), shown, rotation=30, ha="right")
    ax.set_ylabel(f"dev {metric} x100")
    ax.set_title(f"{task}: mean, {100 * (1 - alpha):g} % t-interval over seeds, seeds as dots", fontsize=9)
    save(fig, *paths)


def plot_training(logs: pd.DataFrame, methods: list[str], task: str, path: str | Path, metric: str = "") -> None:
    """Training loss (mean over seeds) and learning rate per optimizer step, one line per method, and, where the
    runs scored their held-out rows after every epoch (student.heldout_curve), that learning curve: a budget at
    its plateau moves it by less than a point over the last epoch.

    `logs` has columns method, seed, step, loss, learning_rate (the train_log.jsonl records), optionally epoch
    and heldout.
    """
    colour = colours(methods)
    curve = "heldout" in logs and logs["heldout"].notna().any()
    fig, axes = plt.subplots(3 if curve else 2, 1, figsize=(6.4, 7.4 if curve else 5.0), sharex=not curve)
    top, bottom = axes[0], axes[1]
    for method in [m for m in methods if m in set(logs.method)]:
        rows = logs[logs.method == method]
        loss = rows.dropna(subset=["loss"]).groupby("step")["loss"].mean()
        lr = rows.dropna(subset=["learning_rate"]).groupby("step")["learning_rate"].mean()
        top.plot(loss.index, loss.to_numpy(), color=colour[method], label=method, lw=1.2)
        bottom.plot(lr.index, lr.to_numpy(), color=colour[method], label=method, lw=1.2)
        if curve:
            scores = rows.dropna(subset=["heldout"]).groupby("epoch")["heldout"].mean() * 100
            axes[2].plot(scores.index, scores.to_numpy(), "o-", color=colour[method], label=method, lw=1.2, ms=3)
    top.set_ylabel("training loss (mean over seeds)")
    bottom.set_ylabel("learning rate")
    bottom.set_xlabel("optimizer step")
    top.legend(fontsize=8)
    top.set_title(f"{task}: training loss and learning rate per step", fontsize=9)
    if curve:
        axes[2].set_xlabel("epoch")
        axes[2].set_ylabel(f"held-out {metric} x100")
        axes[2].set_title("held-out rows after every epoch (live weights; SWA's average is scored at the end)",
                          fontsize=9)
    save(fig, path)


def plot_compute(compute: pd.DataFrame, runs: pd.DataFrame, methods: list[str], task: str, metric: str,
                 path: str | Path) -> None:
    """Mean dev score against the total cost of one run (teacher included for the methods that need it)."""
    rows = compute[compute.task == task].set_index("method")
    colour = colours(methods)
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4), sharey=True)
    for method in [m for m in methods if m in rows.index]:
        scores = runs[(runs.task == task) & (runs.method == method)]["score"] * 100
        for ax, key, scale in ((axes[0], "total_seconds", 1.0), (axes[1], "total_flops", 1e-12)):
            x = rows.loc[method, key] * scale
            ax.errorbar(x, scores.mean(), yerr=scores.std(ddof=1) if len(scores) > 1 else 0, fmt="o",
                        color=colour[method], capsize=3)
            ax.annotate(method, (x, scores.mean()), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes[0].set_xlabel("wall seconds per run (+ teacher)")
    axes[1].set_xlabel("training TFLOPs per run (+ teacher)")
    axes[0].set_ylabel(f"dev {metric} x100 (mean ± std)")
    fig.suptitle(f"{task}: score against compute", fontsize=9)
    save(fig, path)


def plot_interpolation(points: pd.DataFrame, methods: list[str], task: str, metric: str | None,
                       path: str | Path) -> None:
    """Training loss (and dev metric) along w(alpha) from finetune (alpha 0) to each averaged run (alpha 1)."""
    if points.empty:  # the study has no finetune run, or no run of analysis.line_methods on this task
        fig, ax = plt.subplots(figsize=(4.2, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{task}: no interpolation line\n(needs finetune and a run of analysis.line_methods)",
                ha="center", va="center", fontsize=9)
        save(fig, path)
        return
    panels = 2 if metric and f"dev_{metric}" in points and points[f"dev_{metric}"].notna().any() else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
    colour = colours(methods)
    keys = ["train_loss", f"dev_{metric}"][:panels]
    for ax, key in zip(axes[0], keys):
        for method in [m for m in methods if m in set(points.method)]:
            rows = points[points.method == method]
            for _, seed_rows in rows.groupby("seed"):
                ax.plot(seed_rows.alpha, seed_rows[key] * (100 if key != "train_loss" else 1), color=colour[method],
                        alpha=0.3, lw=0.8)
            mean = rows.groupby("alpha")[key].mean() * (100 if key != "train_loss" else 1)
            ax.plot(mean.index, mean.to_numpy(), color=colour[method], lw=2, label=f"finetune → {method}")
        for x in (0.0, 1.0):
            ax.axvline(x, color="grey", ls=":", lw=1)
        ax.set_xlabel("alpha (0 = finetune, 1 = averaged run)")
        ax.set_ylabel("loss on the fixed training batches" if key == "train_loss" else f"dev {metric} x100")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{task}: the straight line between the two solutions of one seed (thin: seeds)", fontsize=9)
    save(fig, path)


def plot_perturbation(curves: pd.DataFrame, methods: list[str], task: str, path: str | Path) -> None:
    """Loss rise over the run's own loss against the filter-normalised radius, mean over runs, band = spread."""
    colour = colours(methods)
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for method in [m for m in methods if m in set(curves.method)]:
        per_run = curves[curves.method == method].groupby(["seed", "radius"])["rise"].mean()  # over directions
        grouped = per_run.groupby("radius")
        mean, low, high = grouped.mean(), grouped.min(), grouped.max()
        ax.plot(mean.index, mean.to_numpy(), "o-", color=colour[method], label=method, lw=1.5, ms=3)
        ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=colour[method], alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("radius (x each filter's norm; Li et al. 2018)")
    ax.set_ylabel("loss rise over the unperturbed loss")
    ax.set_title(f"{task}: random filter-normalised perturbations\nline: mean over seeds and directions; band: "
                 "range over seeds", fontsize=9)
    ax.legend(fontsize=8)
    save(fig, path)


def plot_sharpness(flat: pd.DataFrame, methods: list[str], task: str, metric: str, paths: list[str | Path]) -> None:
    """Every run of the task: dev score against its scalar sharpness and its top Hessian eigenvalue; Spearman's
    rank correlation over all runs in each panel's title (negative: flatter runs score higher)."""
    colour = colours(methods)
    keys = [("sharpness", "sharpness (loss rise at the fixed radius)"),
            ("top_eigenvalue", "top Hessian eigenvalue")]
    keys = [(k, label) for k, label in keys if k in flat and flat[k].notna().any()]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False, sharey=True)
    for ax, (key, label) in zip(axes[0], keys):
        for method in [m for m in methods if m in set(flat.method)]:
            rows = flat[flat.method == method]
            ax.scatter(rows[key], rows["score"] * 100, color=colour[method], label=method, s=22)
        valid = flat[[key, "score"]].dropna()
        rho = stats.spearmanr(valid[key], valid["score"]).statistic if len(valid) > 2 else float("nan")
        ax.set_title(f"Spearman rho = {rho:.2f} over {len(valid)} runs", fontsize=9)
        ax.set_xlabel(label)
    axes[0][0].set_ylabel(f"dev {metric} x100")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{task}: is flatter better?", fontsize=10)
    save(fig, *paths)
