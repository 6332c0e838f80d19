"""Turn per-run metrics.json files into the study's tables: mean and spread over seeds, significance, compute.

Scores are shown x100, as papers print them. The summary has methods as rows and tasks as columns, plus the
average over tasks (of the per-task means), the layout of the paper's results tables.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from .io import read_json


def load_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per run: task, method, seed, `score` (the task's main dev metric), every metric, compute.

    What a student run cost is in its train_info.json beside metrics.json; a teacher's metrics.json holds it.
    """
    rows = []
    for path in paths:
        record = read_json(path)
        info = Path(path).with_name("train_info.json")
        if "compute" not in record and info.is_file():
            record["compute"] = read_json(info).get("compute", {})
        row = {"task": record["task"], "method": record["method"], "seed": record["seed"],
               "main_metric": record["main_metric"], "score": record["validation"][record["main_metric"]]}
        for split in ("validation", "test", "validation_swa_mean", "test_swa_mean"):  # SWAG: BMA and its mean model
            for name, value in record.get(split, {}).items():
                row[f"{split}.{name}"] = value
        compute = record.get("compute", {})
        row["train_seconds"] = compute.get("train_seconds")
        row["optimizer_steps"] = compute.get("optimizer_steps")
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(runs: pd.DataFrame, tasks: list[str], methods: list[str]) -> pd.DataFrame:
    """Rows = methods (in config order), columns = `<task>_mean`, `<task>_std`, `<task>_n`, then `avg_mean`.

    A method with no runs at all (one not defined for any of the study's task families) gets no row; one missing
    on some task gets "–" there and no average, since an average over other tasks would not compare.
    """
    table = pd.DataFrame(index=pd.Index([m for m in methods if m in set(runs.method)], name="method"))
    for task in tasks:
        grouped = runs[runs.task == task].groupby("method")["score"]
        table[f"{task}_mean"] = grouped.mean() * 100
        table[f"{task}_std"] = grouped.std(ddof=1) * 100  # sample std over seeds; NaN for a single seed
        table[f"{task}_n"] = grouped.count()
    table["avg_mean"] = table[[f"{task}_mean" for task in tasks]].mean(axis=1, skipna=False)
    return table.reset_index()


def _cell(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.1f}" if pd.isna(std) else f"{mean:.1f} ± {std:.1f}"


def summary_markdown(table: pd.DataFrame, tasks: list[str], metric_names: dict[str, str], title: str) -> str:
    """The summary as a Markdown table: `mean ± std` over seeds, x100."""
    header = ["Method", *[f"{task} ({metric_names[task]})" for task in tasks], "Avg"]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [_cell(row[f"{t}_mean"], row[f"{t}_std"]) for t in tasks]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + f" | {_cell(row['avg_mean'], float('nan'))} |")
    seeds = sorted({int(row[f'{t}_n']) for _, row in table.iterrows() for t in tasks if not pd.isna(row[f'{t}_n'])})
    lines += ["", f"Dev-set scores x100, mean ± sample std over {'/'.join(map(str, seeds))} seeds."]
    return "\n".join(lines) + "\n"


def significance_table(runs: pd.DataFrame, reference: str = "swa") -> pd.DataFrame:
    """Welch's t-test of `reference` against every other method, per task (two-sided, over seeds)."""
    rows = []
    if reference not in set(runs.method):
        return pd.DataFrame(columns=["task", "method", "reference", "difference", "t", "p_value", "n"])
    for task, task_runs in runs.groupby("task"):
        ref = task_runs[task_runs.method == reference]["score"].to_numpy()
        for method, other in task_runs[task_runs.method != reference].groupby("method"):
            scores = other["score"].to_numpy()
            if len(ref) > 1 and len(scores) > 1:
                t, p = stats.ttest_ind(ref, scores, equal_var=False)
            else:
                t, p = np.nan, np.nan
            rows.append({"task": task, "method": method, "reference": reference,
                         "difference": (ref.mean() - scores.mean()) * 100, "t": t, "p_value": p,
                         "n": min(len(ref), len(scores))})
    return pd.DataFrame(rows)


def compute_table(runs: pd.DataFrame, teachers: pd.DataFrame) -> pd.DataFrame:
    """Mean wall time and optimizer steps per (task, method); KD methods also pay for their task's teacher."""
    table = runs.groupby(["task", "method"])[["train_seconds", "optimizer_steps"]].mean().reset_index()
    teacher_seconds = teachers.set_index("task")["train_seconds"] if len(teachers) else pd.Series(dtype=float)
    table["teacher_seconds"] = table["task"].map(teacher_seconds).fillna(0.0)
    return table


def plot_summary(table: pd.DataFrame, tasks: list[str], path: str | Path) -> None:
    """Grouped bars: one group per task, one bar per method, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(tasks), 3.2))
    width = 0.8 / max(1, len(table))
    x = np.arange(len(tasks))
    for i, (_, row) in enumerate(table.iterrows()):
        means = [row[f"{t}_mean"] for t in tasks]
        stds = [0.0 if pd.isna(row[f"{t}_std"]) else row[f"{t}_std"] for t in tasks]
        ax.bar(x + i * width, means, width, yerr=stds, capsize=3, label=row["method"])
    ax.set_xticks(x + width * (len(table) - 1) / 2, tasks)
    ax.set_ylabel("dev score x100")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")  # the format is explicit: `path` may be a temp name
    plt.close(fig)
