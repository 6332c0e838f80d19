"""The study's calibration table and reliability diagrams, from the runs' metrics.json files (scores) and the
train_info.json beside each (what the run cost).

One row per (task, method) over seeds: the main dev score, ECE, NLL and Brier (mean and sample std), and the mean
training seconds, so the table reads as "what does each method buy, at what cost". SWAG runs add a row for their
SWA-mean model beside the BMA one (`swag/swa_mean`). A reliability diagram per task has a panel per method: dev
accuracy against mean confidence per bin, pooled over seeds (bins summed), with the diagonal of perfect calibration.
Above each task's methods, the trivial baseline (baseline.py): the majority class, with the training rows' class
frequencies as its probabilities, the floor for the score and the calibration a model that learned nothing gets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .io import read_json

MEASURES = ("score", "ece", "nll", "brier")
FLOOR = "trivial (class prior)"


def _variants(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(row name, suffix of the metrics keys): the run itself, and a SWAG run's SWA mean."""
    rows = [(record["method"], "")]
    if "validation_swa_mean" in record:
        rows.append((f"{record['method']}/swa_mean", "_swa_mean"))
    return rows


def calibration_runs(paths: Iterable[str | Path]) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, Any]]]:
    """(one row per run with calibration, {(task, row): reliability bins pooled over seeds})."""
    rows, pooled = [], {}
    for path in paths:
        record = read_json(path)
        info = Path(path).with_name("train_info.json")
        compute = record.get("compute") or (read_json(info).get("compute", {}) if info.is_file() else {})
        for name, suffix in _variants(record):
            validation = record.get(f"validation{suffix}", {})
            if "ece" not in validation:
                continue  # regression, QA, generation: no probabilities
            rows.append({"task": record["task"], "method": name, "seed": record["seed"],
                         "score": validation[record["main_metric"]], "ece": validation["ece"],
                         "nll": validation["nll"], "brier": validation["brier"],
                         "train_seconds": compute.get("train_seconds")})
            bins = record.get(f"reliability{suffix}", {}).get("validation")
            if bins:
                total = pooled.setdefault((record["task"], name), {k: np.zeros(bins["bins"]) for k in
                                                                   ("count", "confidence_sum", "correct")})
                for key in total:
                    total[key] += np.asarray(bins[key], dtype=float)
    columns = ["task", "method", "seed", *MEASURES, "train_seconds"]
    return pd.DataFrame(rows, columns=columns), pooled


def calibration_floor(paths: Iterable[str | Path]) -> dict[str, dict[str, float]]:
    """{task: {score, ece, nll, brier}} of the trivial baselines' dev split (baseline/<task>/metrics.json)."""
    floors = {}
    for path in paths:
        record = read_json(path)
        validation = record["validation"]
        if "ece" in validation:  # regression baselines have no probabilities
            floors[record["task"]] = {"score": validation[record["main_metric"]],
                                      **{k: validation[k] for k in ("ece", "nll", "brier")}}
    return floors


def ordered_methods(runs: pd.DataFrame, methods: list[str]) -> list[str]:
    """The study's rows in config order, each followed by its SWA-mean row when it has one."""
    present = set(runs.method)
    return [row for m in methods for row in (m, f"{m}/swa_mean") if row in present]


def calibration_table(runs: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Per (task, method): seeds, mean and sample std of score, ECE, NLL, Brier; mean training seconds."""
    if runs.empty:
        return pd.DataFrame(columns=["task", "method", "n", *(f"{m}_{s}" for m in MEASURES for s in ("mean", "std")),
                                     "train_seconds"])
    grouped = runs.groupby(["task", "method"])
    table = grouped[list(MEASURES)].agg(["mean", "std"])
    table.columns = [f"{measure}_{stat}" for measure, stat in table.columns]
    table.insert(0, "n", grouped.size())
    table["train_seconds"] = grouped["train_seconds"].mean()
    table = table.reset_index()
    order = {name: i for i, name in enumerate(ordered_methods(runs, methods))}
    return table.sort_values(["task", "method"], key=lambda c: c.map(order) if c.name == "method" else c,
                             kind="stable").reset_index(drop=True)


def _cell(mean: float, std: float, factor: float, digits: int) -> str:
    text = f"{mean * factor:.{digits}f}"
    return text if pd.isna(std) else f"{text} ± {std * factor:.{digits}f}"


def calibration_markdown(table: pd.DataFrame, tasks: dict[str, str], title: str,
                         floors: dict[str, dict[str, float]] | None = None) -> str:
    """A table per task: dev score and ECE x100, NLL and Brier, mean ± std over seeds; train seconds per run;
    the trivial baseline's row on top where `floors` (calibration_floor) has the task."""
    lines = [f"### {title}", ""]
    if table.empty:
        return "\n".join(lines + ["No classification task in this study: calibration needs class probabilities.", ""])
    for task, metric in tasks.items():
        rows = table[table.task == task]
        if rows.empty:
            continue
        lines += [f"**{task}**", "", f"| Method | {metric} | ECE | NLL | Brier | train s | seeds |", "|---|---|---|---|---|---|---|"]
        floor = (floors or {}).get(task)
        if floor:
            lines.append(f"| {FLOOR} | {100 * floor['score']:.1f} | {100 * floor['ece']:.1f} | {floor['nll']:.3f} | "
                         f"{floor['brier']:.3f} | – | – |")
        for _, row in rows.iterrows():
            seconds = "–" if pd.isna(row["train_seconds"]) else f"{row['train_seconds']:.0f}"
            lines.append(f"| {row['method']} | {_cell(row['score_mean'], row['score_std'], 100, 1)} | "
                         f"{_cell(row['ece_mean'], row['ece_std'], 100, 1)} | {_cell(row['nll_mean'], row['nll_std'], 1, 3)} | "
                         f"{_cell(row['brier_mean'], row['brier_std'], 1, 3)} | {seconds} | {int(row['n'])} |")
        lines.append("")
    lines += ["Dev set. Score and ECE x100 (ECE: equal-width confidence bins), NLL and Brier (summed over classes) "
              "per example; mean ± sample std over seeds. train s: mean training seconds per run (a soup: its "
              "ingredients' summed). `swag` is SWAG's Bayesian model average, `swag/swa_mean` its mean model."
              + (f" {FLOOR}: the training rows' majority class for every example, with their class frequencies "
                 "(add-one smoothed) as probabilities: the floor a model that learned nothing reaches." if floors
                 else ""), ""]
    return "\n".join(lines)


def plot_reliability(pooled: dict[tuple[str, str], dict[str, np.ndarray]], task: str, methods: list[str],
                     path: str | Path) -> None:
    """One panel per method: accuracy per confidence bin (bars at the bins' mean confidence) against the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [m for m in methods if (task, m) in pooled] or ["(none)"]
    columns = min(4, len(rows))
    lines = -(-len(rows) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(2.6 * columns, 2.6 * lines), squeeze=False)
    for ax, method in zip(axes.flat, rows):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        bins = pooled.get((task, method))
        if bins is not None:
            count = bins["count"]
            edges = np.linspace(0, 1, len(count) + 1)
            used = count > 0
            accuracy = np.divide(bins["correct"], count, out=np.zeros_like(count), where=used)
            confidence = np.divide(bins["confidence_sum"], count, out=np.zeros_like(count), where=used)
            ax.bar(edges[:-1][used], accuracy[used], width=np.diff(edges)[used], align="edge", alpha=0.7,
                   edgecolor="black", linewidth=0.5, label="accuracy")
            ax.plot(confidence[used], accuracy[used], "o", markersize=3, color="darkred", label="mean confidence")
            ece = float(np.abs(bins["correct"] - bins["confidence_sum"]).sum() / max(1.0, count.sum()))
            ax.set_title(f"{method}  pooled ECE {100 * ece:.1f}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.supxlabel("confidence", fontsize=8)
    fig.supylabel("accuracy", fontsize=8)
    fig.suptitle(f"{task}: reliability on dev, pooled over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")  # the format is explicit: `path` may be a temp name
    plt.close(fig)
