"""Step aggregate: the study's tables (mean ± std over seeds, significance, compute) and a plot.

Inputs:  every run's metrics.json, and the teachers' metrics.json when a KD method ran.
Outputs: tables/summary.csv and .md (methods x tasks + Avg), tables/runs.csv (every run, every metric),
         tables/significance.csv (Welch's t-test of SWA against each other method), tables/compute.csv, plots/summary.png.
Run:     snakemake --cores all -R aggregate
"""
from swa_study.io import atomic_file
from swa_study.report import (compute_table, load_runs, plot_summary, significance_table, summary_markdown,
                              summary_table)
from swa_study.steps import step_log


def main(run_files, teacher_files, tasks: dict[str, str], methods, study, outputs) -> None:
    """`tasks` maps each task to its main metric, in the study's order."""
    runs = load_runs(run_files)
    teachers = load_runs(teacher_files)
    metric_names, tasks = dict(tasks), list(tasks)
    summary = summary_table(runs, tasks, methods)
    markdown = summary_markdown(summary, tasks, metric_names, f"Study `{study}`")
    if len(teachers):
        teacher_row = summary_table(teachers.assign(method="teacher"), tasks, ["teacher"])
        markdown += "\nTeacher (one run per task, the KD methods' soft labels): " + ", ".join(
            f"{t} {teacher_row[f'{t}_mean'].iloc[0]:.1f}" for t in tasks) + "\n"
    tables = {
        "summary_csv": lambda p: summary.to_csv(p, index=False, float_format="%.4f"),
        "summary_md": lambda p: p.write_text(markdown),
        "runs_csv": lambda p: runs.sort_values(["task", "method", "seed"]).to_csv(p, index=False),
        "significance": lambda p: significance_table(runs).to_csv(p, index=False, float_format="%.4g"),
        "compute": lambda p: compute_table(runs, teachers).to_csv(p, index=False, float_format="%.2f"),
        "plot": lambda p: plot_summary(summary, tasks, p),
    }
    for key, write in tables.items():
        with atomic_file(outputs[key]) as staging:
            write(staging)


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.runs, snakemake.input.teachers, snakemake.params.tasks, snakemake.params.methods,
             snakemake.params.study, dict(snakemake.output.items()))
