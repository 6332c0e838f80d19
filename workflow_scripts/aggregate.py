"""Step aggregate: the study's tables (mean ± std over seeds, paired statistics, compute) and the summary plot.

Inputs:  every run's metrics.json; the teachers' metrics.json and their logits pass facts (train_logits.json)
         where a method of the study uses them; the trivial baselines (baseline/<task>/metrics.json); with tuning,
         every selected.json (the setting each method won with) and every trial's train_info.json (what tuning
         cost, charged to its method).
Params:  tasks (task -> main metric, in order), methods (in order), teacher_needs (task -> method -> what it takes
         from the teacher), statistics (alpha, bootstrap seed, reference methods), study.
Outputs: tables/summary.csv, .md and .html (the trivial baseline's row, then methods x tasks + Avg, † where the
         Holm-adjusted paired t-test against finetune gives p < alpha, paired differences with their Student-t
         intervals, teacher scores, SWA's cost ratio), tables/runs.csv (every run, every metric and cost),
         tables/significance.csv and .html (every method against each reference, paired by seed: mean difference,
         t interval, paired t-test and its mark, Wilcoxon from 6 pairs, bootstrap interval from 10, Holm per task
         and reference), tables/compute.csv and .html (cost per method, teacher included where used),
         plots/summary.png.
Run:     snakemake --cores all -R aggregate
"""
from pathlib import Path

import pandas as pd

from swa_study.compute import compute_table, cost_sentence
from swa_study.io import atomic_file, read_json
from swa_study.report import (html_page, load_baselines, load_runs, marked_cells, matched_cells, matched_markdown,
                              paired_cells,
                              paired_markdown,
                              paired_note, plot_summary, summary_cells, summary_markdown, summary_note,
                              summary_table, teacher_line, untestable_cells, with_floor)
from swa_study.statistics import BOOTSTRAP_MIN_PAIRS, significance_table, wilcoxon_min_pairs
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


def main(run_files, teacher_files, logits_files, baseline_files, tasks: dict[str, str], methods: list[str],
         teacher_needs: dict, statistics: dict, study: str, outputs: dict[str, str], selected_files=(),
         trial_info_files=()) -> None:
    runs = load_runs(run_files)
    teachers = load_runs(teacher_files)
    logits = {record["task"]: record for record in map(read_json, logits_files)}
    baselines = load_baselines(baseline_files)
    metric_names, tasks = dict(tasks), list(tasks)
    references = [r for r in statistics["references"] if r in methods]
    alpha, mark_reference = statistics["alpha"], "finetune"
    summary = summary_table(runs, tasks, methods)
    table = with_floor(summary, baselines, tasks)  # the floor's row on top; no statistics for it
    significance = significance_table(runs, methods, references, seed=statistics["seed"], alpha=alpha,
                                      matched=statistics["matched"])
    compute = compute_table(runs, teachers, logits, teacher_needs, methods, trial_costs(trial_info_files))
    tuned = tuned_settings_line([read_json(p) for p in selected_files], tasks, methods)
    marks, untestable = marked_cells(significance, mark_reference), untestable_cells(significance, mark_reference)
    cost = cost_sentence(compute)

    markdown = summary_markdown(table, tasks, metric_names, f"Study `{study}`", marks, untestable, alpha)
    markdown += "\n" + teacher_line(teachers, tasks) if len(teachers) else ""
    markdown += "\n" + tuned if tuned else ""
    markdown += "\n" + paired_markdown(significance, tasks, mark_reference, alpha)
    markdown += "\n" + matched_markdown(significance, tasks, alpha) if statistics["matched"] else ""
    markdown += f"\nCompute: {cost} (tables/compute.csv).\n" if cost else ""
    summary_html = html_page(f"Study {study}: dev scores", [
        ("Scores x100", summary_cells(table, tasks, metric_names, marks, untestable),
         summary_note(table, tasks, alpha, untestable)),
        ("", None, teacher_line(teachers, tasks)),
        ("", None, tuned),
        (f"Paired differences to {mark_reference}", paired_cells(significance, tasks, mark_reference),
         paired_note(mark_reference, alpha)),
        *([("Paired differences to the matched reference", matched_cells(significance, tasks), "")]
          if statistics["matched"] else []),
        ("Compute", None, cost),
    ])
    tables = {
        "summary_csv": lambda p: table.to_csv(p, index=False, float_format="%.4f"),
        "summary_md": lambda p: p.write_text(markdown),
        "summary_html": lambda p: p.write_text(summary_html),
        "runs_csv": lambda p: runs.sort_values(["task", "method", "seed"]).to_csv(p, index=False),
        "significance": lambda p: significance.to_csv(p, index=False, float_format="%.6g"),
        "significance_html": lambda p: p.write_text(html_page(
            f"Study {study}: paired comparisons", [("", significance, significance_caption(references, alpha))])),
        "compute": lambda p: compute.to_csv(p, index=False),  # full precision: token counts are large integers
        "compute_html": lambda p: p.write_text(html_page(f"Study {study}: compute per run", [("", compute, cost)])),
        "plot": lambda p: plot_summary(summary, tasks, p, baselines),
    }
    for key, write in tables.items():
        with atomic_file(outputs[key]) as staging:
            write(Path(staging))


def significance_caption(references: list[str], alpha: float) -> str:
    return (f"Each method against {' and '.join(references)}, per task, paired by seed over the seeds both have "
            f"(n, seeds). difference = method - reference, x100, with its paired {100 * (1 - alpha):g} % Student-t "
            "interval (ci_low, ci_high: mean ± t sd / √n; ci_excludes_zero: the unadjusted t-test's p < "
            f"{alpha:g}); p_ttest: paired t-test; *_holm: Holm-adjusted within the comparisons of one task and one "
            f"reference (holm_family); mark (the summary's †): p_ttest_holm < {alpha:g}; testable: at least 2 "
            f"pairs, so a test exists. p_wilcoxon: Wilcoxon's signed-rank test, from {wilcoxon_min_pairs(alpha)} "
            f"pairs (with fewer its p cannot go below {alpha:g}); bootstrap_low/high: the percentile-bootstrap "
            f"interval, from {BOOTSTRAP_MIN_PAIRS} pairs (with fewer it is too narrow); empty below.")


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.runs, snakemake.input.teachers, snakemake.input.logits, snakemake.input.baselines,
             snakemake.params.tasks, snakemake.params.methods, snakemake.params.teacher_needs,
             snakemake.params.statistics, snakemake.params.study, dict(snakemake.output.items()),
             snakemake.input.selected, snakemake.input.trial_infos)
