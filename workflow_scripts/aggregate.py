"""Step aggregate: the study's tables (mean ± std over seeds, paired statistics, compute) and the summary plot.

Inputs:  every run's metrics.json; the teachers' metrics.json and their logits pass facts (train_logits.json)
         where a method of the study uses them; with tuning, every selected.json (the setting each method won
         with) and every trial's train_info.json (what tuning cost, charged to its method).
Params:  tasks (task -> main metric, in order), methods (in order), teacher_needs (task -> method -> what it takes
         from the teacher), statistics (bootstrap seed, reference methods), study.
Outputs: tables/summary.csv, .md and .html (methods x tasks + Avg, † where the paired interval against finetune
         excludes zero, paired differences, teacher scores, SWA's cost ratio), tables/runs.csv (every run, every
         metric and cost), tables/significance.csv and .html (every method against each reference, paired by seed:
         mean difference, bootstrap CI, paired t-test, Wilcoxon, Holm per task and reference),
         tables/compute.csv and .html (cost per method, teacher included where used), plots/summary.png.
Run:     snakemake --cores all -R aggregate
"""
from pathlib import Path

import pandas as pd

from swa_study.compute import compute_table, cost_sentence
from swa_study.io import atomic_file, read_json
from swa_study.report import (html_page, load_runs, marked_cells, paired_cells, paired_markdown, paired_note,
                              plot_summary, summary_cells, summary_markdown, summary_note, summary_table,
                              teacher_line)
from swa_study.statistics import significance_table
from swa_study.steps import step_log
from swa_study.study.tuning import setting_label


def tuned_settings_line(selected: list[dict], tasks: list[str], methods: list[str]) -> str:
    """The setting each tuned method won with, per task, for the line under the summary."""
    chosen = {(s["task"], s["method"]): s for s in selected}
    parts = []
    for task in tasks:
        cells = [f"{m} {setting_label(chosen[task, m]['setting'])}" for m in methods if (task, m) in chosen]
        if cells:
            trials = len(next(s for s in selected if s["task"] == task)["trials"])
            parts.append(f"{task}: " + "; ".join(cells) + f" (best of {trials} trials on the held-out rows)")
    return ("Tuned settings (tuning/tuning.md): " + " | ".join(parts) + "\n") if parts else ""


def trial_costs(info_files) -> pd.DataFrame:
    rows = [{"task": i["task"], "method": i["method"], "train_seconds": i["compute"].get("train_seconds"),
             "train_flops": i["compute"].get("train_flops")} for i in map(read_json, info_files)]
    return pd.DataFrame(rows, columns=["task", "method", "train_seconds", "train_flops"])


def main(run_files, teacher_files, logits_files, tasks: dict[str, str], methods: list[str],
         teacher_needs: dict, statistics: dict, study: str, outputs: dict[str, str], selected_files=(),
         trial_info_files=()) -> None:
    runs = load_runs(run_files)
    teachers = load_runs(teacher_files)
    logits = {record["task"]: record for record in map(read_json, logits_files)}
    metric_names, tasks = dict(tasks), list(tasks)
    references = [r for r in statistics["references"] if r in methods]
    mark_reference = "finetune"
    summary = summary_table(runs, tasks, methods)
    significance = significance_table(runs, methods, references, seed=statistics["seed"])
    compute = compute_table(runs, teachers, logits, teacher_needs, methods, trial_costs(trial_info_files))
    tuned = tuned_settings_line([read_json(p) for p in selected_files], tasks, methods)
    marks = marked_cells(significance, mark_reference)
    cost = cost_sentence(compute)

    markdown = summary_markdown(summary, tasks, metric_names, f"Study `{study}`", marks)
    markdown += "\n" + teacher_line(teachers, tasks) if len(teachers) else ""
    markdown += "\n" + tuned if tuned else ""
    markdown += "\n" + paired_markdown(significance, tasks, mark_reference)
    markdown += f"\nCompute: {cost} (tables/compute.csv).\n" if cost else ""
    summary_html = html_page(f"Study {study}: dev scores", [
        ("Scores x100", summary_cells(summary, tasks, metric_names, marks), summary_note(summary, tasks)),
        ("", None, teacher_line(teachers, tasks)),
        ("", None, tuned),
        (f"Paired differences to {mark_reference}", paired_cells(significance, tasks, mark_reference),
         paired_note(mark_reference)),
        ("Compute", None, cost),
    ])
    tables = {
        "summary_csv": lambda p: summary.to_csv(p, index=False, float_format="%.4f"),
        "summary_md": lambda p: p.write_text(markdown),
        "summary_html": lambda p: p.write_text(summary_html),
        "runs_csv": lambda p: runs.sort_values(["task", "method", "seed"]).to_csv(p, index=False),
        "significance": lambda p: significance.to_csv(p, index=False, float_format="%.6g"),
        "significance_html": lambda p: p.write_text(html_page(
            f"Study {study}: paired comparisons", [("", significance, significance_caption(references))])),
        "compute": lambda p: compute.to_csv(p, index=False),  # full precision: token counts are large integers
        "compute_html": lambda p: p.write_text(html_page(f"Study {study}: compute per run", [("", compute, cost)])),
        "plot": lambda p: plot_summary(summary, tasks, p),
    }
    for key, write in tables.items():
        with atomic_file(outputs[key]) as staging:
            write(Path(staging))


def significance_caption(references: list[str]) -> str:
    return (f"Each method against {' and '.join(references)}, per task, paired by seed over the seeds both have "
            "(n, seeds). difference = method - reference, x100, with its 95 % percentile-bootstrap interval; "
            "p_ttest: paired t-test; p_wilcoxon: Wilcoxon's signed-rank test; *_holm: Holm-adjusted within the "
            "comparisons of one task and one reference (holm_family).")


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.runs, snakemake.input.teachers, snakemake.input.logits, snakemake.params.tasks,
             snakemake.params.methods, snakemake.params.teacher_needs, snakemake.params.statistics,
             snakemake.params.study, dict(snakemake.output.items()), snakemake.input.selected,
             snakemake.input.trial_infos)
