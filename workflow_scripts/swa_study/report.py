"""Turn per-run metrics.json files into the study's tables: mean and spread over seeds, paired differences, marks.

Scores are shown x100, as papers print them. The summary has methods as rows and tasks as columns, plus the
average over tasks (of the per-task means), the layout of the paper's results tables, and the trivial baseline
(majority class or mean training score; baseline.py) as the first row, the floor a method must clear. A cell is
marked † when the paired t-test of its difference to `finetune` (same seeds), Holm-adjusted over the methods
compared with finetune on that task, gives p < alpha (statistics.py: a mark whose false-positive rate holds at
3-5 seeds); ° says that the cell has fewer than 2 seeds paired with finetune, so no test could mark it.
Every table is also written as a small self-contained HTML page, the form Snakemake's report shows inline.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .io import read_json
from .statistics import ALPHA, BOOTSTRAP_MIN_PAIRS, MIN_PAIRS, wilcoxon_min_pairs

MARK = "†"
NO_TEST = "°"  # a summary cell with fewer than MIN_PAIRS seeds paired with the reference: no test, no mark
TRIVIAL = "trivial (majority / mean)"  # the floor's row; spaces and brackets: no method can be named so
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


def load_baselines(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per task from the trivial_baseline step's metrics.json: task, main_metric, `score` (dev main
    metric), what it predicts, and which correlation metrics are 0.0 by convention (a constant has none)."""
    rows = []
    for path in paths:
        record = read_json(path)
        rows.append({"task": record["task"], "main_metric": record["main_metric"],
                     "score": record["validation"][record["main_metric"]], "predicts": record["predicts"]["rule"],
                     "constant_correlations": record.get("constant_correlations", [])})
    return pd.DataFrame(rows, columns=["task", "main_metric", "score", "predicts", "constant_correlations"])


def with_floor(table: pd.DataFrame, baselines: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """`table` (summary_table's) with the trivial baseline as its first row: one value per task, no spread, no
    seeds; the average only when every task has a floor (QA and generation have none)."""
    if baselines.empty:
        return table
    scores = baselines.set_index("task")["score"] * 100
    values = {column: np.nan for column in table.columns if column != "method"}
    values.update({f"{t}_mean": float(scores.get(t, np.nan)) for t in tasks})
    values["avg_mean"] = np.mean([values[f"{t}_mean"] for t in tasks])  # NaN if a task has no floor
    floor = pd.DataFrame([{"method": TRIVIAL, **values}], columns=table.columns)
    counts = {f"{t}_n": "Int64" for t in tasks}  # seeds stay whole numbers beside the floor's empty cell
    return pd.concat([floor.astype(counts), table.astype(counts)], ignore_index=True)


def _cell(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.1f}" if pd.isna(std) else f"{mean:.1f} ± {std:.1f}"


def marked_cells(significance: pd.DataFrame, reference: str = "finetune") -> set[tuple[str, str]]:
    """(task, method) pairs whose Holm-adjusted paired t-test against `reference` passes (column `mark`)."""
    rows = significance[(significance.reference == reference) & significance["mark"].astype(bool)]
    return set(zip(rows.task, rows.method))


def untestable_cells(significance: pd.DataFrame, reference: str = "finetune") -> set[tuple[str, str]]:
    """(task, method) pairs with too few seeds paired with `reference` for any test (column `testable`)."""
    rows = significance[(significance.reference == reference) & ~significance["testable"].astype(bool)]
    return set(zip(rows.task, rows.method))


def summary_cells(table: pd.DataFrame, tasks: list[str], metric_names: dict[str, str],
                  marks: set[tuple[str, str]] = frozenset(),
                  untestable: set[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """The summary as display strings: `mean ± std` over seeds, x100, † on the cells in `marks`, ° on those in
    `untestable`; the floor's row never carries either (it takes no part in the statistics)."""
    def suffix(task: str, method: str) -> str:
        if method == TRIVIAL:
            return ""
        return f" {MARK}" if (task, method) in marks else f" {NO_TEST}" if (task, method) in untestable else ""

    rows = []
    for _, row in table.iterrows():
        cells = {f"{t} ({metric_names[t]})": _cell(row[f"{t}_mean"], row[f"{t}_std"]) + suffix(t, row["method"])
                 for t in tasks}
        rows.append({"Method": row["method"], **cells, "Avg": _cell(row["avg_mean"], float("nan"))})
    return pd.DataFrame(rows, columns=["Method", *[f"{t} ({metric_names[t]})" for t in tasks], "Avg"])


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g} %"


def summary_note(table: pd.DataFrame, tasks: list[str], alpha: float = ALPHA,
                 untestable: set[tuple[str, str]] = frozenset()) -> str:
    """What the numbers, the marks and the floor row mean (the mark's definition, word for word)."""
    methods = table[table.method != TRIVIAL]
    seeds = sorted({int(row[f'{t}_n']) for _, row in methods.iterrows() for t in tasks if not pd.isna(row[f'{t}_n'])})
    note = (f"Dev-set scores x100, mean ± sample std over {'/'.join(map(str, seeds))} seeds. {MARK} the paired "
            f"t-test of the difference to finetune (seed by seed), Holm-adjusted over the methods compared with "
            f"finetune on that task, gives p < {alpha:g}; the paired {_level(alpha)} Student-t intervals are below "
            "and in tables/significance.csv (a mark whose false-positive rate is checked by simulation at 3, 5 and "
            "10 seeds).")
    if untestable:
        note += f" {NO_TEST} fewer than {MIN_PAIRS} seeds paired with finetune: no test, so no mark either way."
    floor = table[table.method == TRIVIAL]
    if len(floor):
        note += (f" {TRIVIAL}: the training rows' majority class (regression: their mean score) predicted for every "
                 "dev example, scored with the task's metrics: the floor. A constant prediction carries no "
                 "correlation, so Matthews, Pearson and Spearman correlations are reported as 0.0 for it (they "
                 "are undefined).")
        if floor[[f"{t}_mean" for t in tasks]].isna().any(axis=None):
            note += " QA and generation tasks have no trivial baseline (–)."
    return note


def markdown_table(cells: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "---|" * len(cells.columns)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in cells.itertuples(index=False)]


def summary_markdown(table: pd.DataFrame, tasks: list[str], metric_names: dict[str, str], title: str,
                     marks: set[tuple[str, str]] = frozenset(), untestable: set[tuple[str, str]] = frozenset(),
                     alpha: float = ALPHA) -> str:
    """The summary as a Markdown table: `mean ± std` over seeds, x100, † on the cells in `marks`."""
    lines = [f"### {title}", "", *markdown_table(summary_cells(table, tasks, metric_names, marks, untestable)), "",
             summary_note(table, tasks, alpha, untestable)]
    return "\n".join(lines) + "\n"


def _signed(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:+.1f}"


def _p(value: float) -> str:
    return "–" if pd.isna(value) else ("<0.001" if value < 0.001 else f"{value:.3f}")


def _paired_cell(r) -> str:
    """mean [t interval] †, n, Holm-adjusted p of both tests, the bootstrap interval where n allows it; a
    comparison without the pairs for a test says so instead."""
    if not r.testable:
        return ("" if pd.isna(r.difference) else f"{_signed(r.difference)} ") + f"(n={int(r.n)}: no test)"
    boot = "" if pd.isna(r.bootstrap_low) else f", boot [{_signed(r.bootstrap_low)}, {_signed(r.bootstrap_high)}]"
    return (f"{_signed(r.difference)} [{_signed(r.ci_low)}, {_signed(r.ci_high)}]{' ' + MARK if r.mark else ''} "
            f"(n={int(r.n)}, p_t {_p(r.p_ttest_holm)}, p_W {_p(r.p_wilcoxon_holm)}{boot})")


def paired_cells(significance: pd.DataFrame, tasks: list[str], reference: str = "finetune") -> pd.DataFrame:
    """Method - reference per task as display strings: mean paired difference [t interval], n, Holm-adjusted p
    of the paired t-test and of Wilcoxon's test (and the bootstrap interval from BOOTSTRAP_MIN_PAIRS)."""
    rows = significance[significance.reference == reference]
    table = []
    for method in dict.fromkeys(rows.method):
        cells = {}
        for task in tasks:
            match = rows[(rows.method == method) & (rows.task == task)]
            if match.empty:
                cells[task] = "–"
                continue
            cells[task] = _paired_cell(match.iloc[0])
        table.append({"Method": method, **cells})
    return pd.DataFrame(table, columns=["Method", *tasks])


def paired_note(reference: str = "finetune", alpha: float = ALPHA) -> str:
    return (f"Points x100, method - {reference} on the same seeds: mean [paired {_level(alpha)} Student-t "
            f"interval, mean ± t sd / √n, per comparison]; {MARK} the paired t-test (p_t), Holm-adjusted over the "
            f"methods compared with {reference} on one task, gives p < {alpha:g}. p_W: Wilcoxon's signed-rank "
            f"test, Holm-adjusted, from {wilcoxon_min_pairs(alpha)} pairs (with fewer it cannot reach p < "
            f"{alpha:g}: –); boot: the percentile-bootstrap interval, from {BOOTSTRAP_MIN_PAIRS} pairs (with "
            f"fewer it is too narrow). \"no test\": fewer than {MIN_PAIRS} pairs.")


def paired_markdown(significance: pd.DataFrame, tasks: list[str], reference: str = "finetune",
                    alpha: float = ALPHA) -> str:
    cells = paired_cells(significance, tasks, reference)
    if cells.empty:
        return ""
    lines = [f"#### Paired differences to {reference}", "", *markdown_table(cells), "", paired_note(reference, alpha)]
    return "\n".join(lines) + "\n"


def matched_cells(significance: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """The `statistics.matched` comparisons (each method against its own reference) as display strings."""
    rows = significance[significance.holm_family.str.endswith(" matched")]
    table = []
    for (method, reference), pairs in rows.groupby(["method", "reference"], sort=False):
        cells = {task: _paired_cell(pairs[pairs.task == task].iloc[0]) if (pairs.task == task).any() else "–"
                 for task in tasks}
        table.append({"Method": method, "Reference": reference, **cells})
    return pd.DataFrame(table, columns=["Method", "Reference", *tasks])


def matched_markdown(significance: pd.DataFrame, tasks: list[str], alpha: float = ALPHA) -> str:
    cells = matched_cells(significance, tasks)
    if cells.empty:
        return ""
    note = (f"As above, each method against its own reference (`statistics.matched`: e.g. SWA at a constant LR "
            f"against fine-tuning whose peak LR is that LR); Holm over these comparisons of one task; {MARK} p < "
            f"{alpha:g}.")
    lines = ["#### Paired differences to the matched reference", "", *markdown_table(cells), "", note]
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


def plot_summary(table: pd.DataFrame, tasks: list[str], path: str | Path,
                 baselines: pd.DataFrame | None = None) -> None:
    """Grouped bars: one group per task, one bar per method, error bars = std over seeds; the trivial baseline
    of each task (`baselines`, load_baselines) as a dotted line across its group."""
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
    floors = {} if baselines is None else (baselines.set_index("task")["score"] * 100).to_dict()
    label = "trivial baseline"
    for i, task in enumerate(tasks):
        if task in floors:
            ax.hlines(floors[task], i - width / 2, i + width * (len(table) - 0.5), colors="black", linestyles=":",
                      label=label)
            label = None  # one legend entry for all tasks
    ax.set_xticks(x + width * (len(table) - 1) / 2, tasks)
    ax.set_ylabel("dev score x100")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")  # the format is explicit: `path` may be a temp name
    plt.close(fig)
