"""Step calibration: the study's calibration table and a reliability diagram per classification task.

Inputs:  every run's (and soup's) metrics.json, with the train_info.json beside it (training seconds); the trivial
         baselines of the classification tasks (baseline/<task>/metrics.json: the floor row).
Params:  tasks (classification tasks with classes -> main metric), methods (the summary's rows in config order),
         study (the title).
Outputs: tables/calibration.csv and .md (score, ECE, NLL, Brier, train seconds per task and method, over seeds;
         the .md adds the trivial baseline's row per task),
         plots/reliability_<task>.png (a panel per method, bins pooled over seeds).
Run:     snakemake --cores all -R calibration
"""
from swa_study.calibration_report import (calibration_floor, calibration_markdown, calibration_runs, calibration_table,
                                          ordered_methods)
from swa_study.calibration_report import plot_reliability
from swa_study.io import atomic_file
from swa_study.steps import step_log


def main(run_files, baseline_files, tasks: dict[str, str], methods: list[str], study: str, table_csv: str,
         table_md: str, plots: list[str]) -> None:
    runs, pooled = calibration_runs(run_files)
    table = calibration_table(runs, methods)
    with atomic_file(table_csv) as staging:
        table.to_csv(staging, index=False, float_format="%.6g")
    with atomic_file(table_md) as staging:
        staging.write_text(calibration_markdown(table, dict(tasks), f"Calibration, study `{study}`",
                                                calibration_floor(baseline_files)))
    rows = ordered_methods(runs, list(methods))
    for task, path in zip(tasks, plots):  # the rule lists one plot per task, in the same order
        with atomic_file(path) as staging:
            plot_reliability(pooled, task, rows, staging)


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.runs, snakemake.input.baselines, snakemake.params.tasks, snakemake.params.methods,
             snakemake.params.study, snakemake.output.table_csv, snakemake.output.table_md,
             list(snakemake.output.plots))
