"""Step tuning_tables: every tuning trial, the setting each method won with, and expected validation performance.

Inputs:  every trial's heldout.json and train_info.json, every selected.json.
Params:  tasks (task -> main metric, in order), methods (the tuned methods, in order), study.
Outputs: tuning/tuning.csv (one row per trial: setting, held-out score x100, cost, whether it won),
         tuning/tuning.md and .html (per task and method: the chosen setting, its held-out score, the expected
         best of 1 and of all trials), tuning/expected_validation.csv (E[max] and its std for k = 1..n trials),
         tuning/expected_validation.png (the curves, one panel per task).
Run:     snakemake --cores all -R tuning_tables
"""
from pathlib import Path

from swa_study.io import atomic_file, read_json
from swa_study.report import html_page
from swa_study.steps import step_log
from swa_study.tuning_report import (NOTE, expected_validation_curves, plot_expected_validation, selection_table,
                                     trials_frame, tuning_markdown)


def main(score_files, info_files, selected_files, tasks: dict[str, str], methods: list[str], study: str,
         outputs: dict[str, str]) -> None:
    trials = trials_frame([read_json(p) for p in score_files], [read_json(p) for p in info_files],
                          [read_json(p) for p in selected_files])
    curves = expected_validation_curves(trials)
    selection = selection_table(trials, curves, list(tasks), methods)
    per_method = int(trials.groupby(["task", "method"]).size().max())
    writers = {
        "trials": lambda p: trials.to_csv(p, index=False, float_format="%.6g"),
        "curves": lambda p: curves.to_csv(p, index=False, float_format="%.6g"),
        "markdown": lambda p: p.write_text(tuning_markdown(selection, study, per_method)),
        "html": lambda p: p.write_text(html_page(f"Study {study}: equal-budget tuning",
                                                 [("Chosen settings", selection, NOTE), ("Every trial", trials, "")])),
        "plot": lambda p: plot_expected_validation(curves, tasks, methods, p),
    }
    for key, write in writers.items():
        with atomic_file(outputs[key]) as staging:
            write(Path(staging))


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.scores, snakemake.input.infos, snakemake.input.selected, snakemake.params.tasks,
             snakemake.params.methods, snakemake.params.study, dict(snakemake.output.items()))
