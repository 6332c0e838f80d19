"""Turn per-run metrics.json files into the study's tables: mean and spread over seeds, paired differences, marks.

Scores are shown x100, as papers print them. The summary has methods as rows and tasks as columns, plus the
average over tasks (of the per-task means), the layout of the paper's results tables. A cell is marked † when the
paired 95 % bootstrap interval of its difference to `finetune` (same seeds; statistics.py) excludes zero.
Every table is also written as a small self-contained HTML page, the form Snakemake's report shows inline.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .io import read_json

MARK = "†"
COMPUTE_KEYS = ("train_seconds", "optimizer_steps", "tokens", "train_flops", "peak_rss_mb")


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
        row.update({key: compute.get(key) for key in COMPUTE_KEYS})
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


def marked_cells(significance: pd.DataFrame, reference: str = "finetune") -> set[tuple[str, str]]:
    """(task, method) pairs whose paired interval against `reference` excludes zero."""
    rows = significance[(significance.reference == reference) & significance.ci_excludes_zero.astype(bool)]
    return set(zip(rows.task, rows.method))


def summary_cells(table: pd.DataFrame, tasks: list[str], metric_names: dict[str, str],
                  marks: set[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """The summary as display strings: `mean ± std` over seeds, x100, † on the cells in `marks`."""
    rows = []
    for _, row in table.iterrows():
        cells = {f"{t} ({metric_names[t]})": _cell(row[f"{t}_mean"], row[f"{t}_std"])
                 + (f" {MARK}" if (t, row["method"]) in marks else "") for t in tasks}
        rows.append({"Method": row["method"], **cells, "Avg": _cell(row["avg_mean"], float("nan"))})
    return pd.DataFrame(rows, columns=["Method", *[f"{t} ({metric_names[t]})" for t in tasks], "Avg"])


def summary_note(table: pd.DataFrame, tasks: list[str]) -> str:
    seeds = sorted({int(row[f'{t}_n']) for _, row in table.iterrows() for t in tasks if not pd.isna(row[f'{t}_n'])})
    return (f"Dev-set scores x100, mean ± sample std over {'/'.join(map(str, seeds))} seeds. {MARK} the paired 95 % "
            "bootstrap interval of the difference to finetune (seed by seed) excludes zero (tables/significance.csv).")


def markdown_table(cells: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "---|" * len(cells.columns)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in cells.itertuples(index=False)]


def summary_markdown(table: pd.DataFrame, tasks: list[str], metric_names: dict[str, str], title: str,
                     marks: set[tuple[str, str]] = frozenset()) -> str:
    """The summary as a Markdown table: `mean ± std` over seeds, x100, † on the cells in `marks`."""
    lines = [f"### {title}", "", *markdown_table(summary_cells(table, tasks, metric_names, marks)), "",
             summary_note(table, tasks)]
    return "\n".join(lines) + "\n"


def _signed(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:+.1f}"


def _p(value: float) -> str:
    return "–" if pd.isna(value) else ("<0.001" if value < 0.001 else f"{value:.3f}")


def paired_cells(significance: pd.DataFrame, tasks: list[str], reference: str = "finetune") -> pd.DataFrame:
    """Method - reference per task as display strings: mean paired difference [95 % CI], n, Holm-adjusted p of
    the paired t-test and of Wilcoxon's test."""
    rows = significance[significance.reference == reference]
    table = []
    for method in dict.fromkeys(rows.method):
        cells = {}
        for task in tasks:
            match = rows[(rows.method == method) & (rows.task == task)]
            if match.empty:
                cells[task] = "–"
                continue
            r = match.iloc[0]
            cells[task] = (f"{_signed(r.difference)} [{_signed(r.ci_low)}, {_signed(r.ci_high)}]"
                           f"{' ' + MARK if r.ci_excludes_zero else ''} (n={int(r.n)}, p_t {_p(r.p_ttest_holm)}, "
                           f"p_W {_p(r.p_wilcoxon_holm)})")
        table.append({"Method": method, **cells})
    return pd.DataFrame(table, columns=["Method", *tasks])


def paired_note(reference: str = "finetune") -> str:
    return (f"Points x100, method - {reference} on the same seeds: mean [95 % percentile-bootstrap interval]; "
            "p-values of the paired t-test (p_t) and Wilcoxon's signed-rank test (p_W), Holm-adjusted over the "
            f"methods compared with {reference} on one task.")


def paired_markdown(significance: pd.DataFrame, tasks: list[str], reference: str = "finetune") -> str:
    cells = paired_cells(significance, tasks, reference)
    if cells.empty:
        return ""
    lines = [f"#### Paired differences to {reference}", "", *markdown_table(cells), "", paired_note(reference)]
    return "\n".join(lines) + "\n"


def teacher_line(teachers: pd.DataFrame, tasks: list[str]) -> str:
    if not len(teachers):
        return ""
    scores = teachers.set_index("task")["score"] * 100
    return ("Teacher (one run per task, the KD methods' soft labels): "
            + ", ".join(f"{t} {scores[t]:.1f}" for t in tasks if t in scores.index) + "\n")


STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:13px;margin-bottom:.5em}"
         "th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}th{background:#f3f3f3}"
         "td:first-child,th:first-child{text-align:left}p{font-size:13px;max-width:60em}")


def html_page(title: str, sections: list[tuple[str, pd.DataFrame | None, str]], float_format: str = "{:.4g}") -> str:
    """Tables as one self-contained HTML page (no scripts, no external files), the form Snakemake's report shows
    inline. Each section is (heading, table or None, note)."""
    parts = [f"<h2>{html.escape(title)}</h2>"]
    for heading, frame, note in sections:
        if heading:
            parts.append(f"<h3>{html.escape(heading)}</h3>")
        if frame is not None:
            parts.append(frame.to_html(index=False, na_rep="–", border=0, float_format=float_format.format))
        if note:
            parts.append(f"<p>{html.escape(note)}</p>")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


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
