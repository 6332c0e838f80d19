"""Step flatness_tables: every run's flatness analysis as tables, flatness beside the score.

Inputs:  every run's analysis/<task>/<method>/seed<N>/flatness.json and metrics.json (its dev score).
Params:  tasks, methods (study order), sharpness_radius, statistics (alpha of the mark, bootstrap seed).
Outputs: analysis/flatness.csv (one row per run: score, loss, sharpness, top eigenvalue, trace, cost ratio),
         analysis/flatness.md and .html (mean ± std per task and method, and each measure's paired difference to
         finetune with its Student-t CI, † where the Holm-adjusted paired t-test passes),
         analysis/flatness_differences.csv (statistics.significance_table's columns), analysis/perturbation.csv
         (loss per radius and direction), analysis/interpolation.csv (training loss and dev metric per alpha).
Run:     snakemake --cores all -R flatness_tables
"""
from pathlib import Path

from swa_study.flatness_report import flatness_differences, flatness_markdown, flatness_summary, load_flatness
from swa_study.io import atomic_file
from swa_study.report import html_page, load_runs
from swa_study.steps import step_log


def main(flatness_files, run_files, tasks: list[str], methods: list[str], sharpness_radius: float,
         statistics: dict, outputs: dict[str, str]) -> None:
    table, curves, lines = load_flatness(flatness_files, load_runs(run_files))
    summary = flatness_summary(table, tasks, methods)
    alpha = statistics["alpha"]
    differences = flatness_differences(table, methods, seed=statistics["seed"], alpha=alpha)
    markdown = flatness_markdown(summary, differences, sharpness_radius, alpha)
    note = (f"Sharpness: mean loss rise at radius {sharpness_radius} over filter-normalised random directions; "
            "top_eigenvalue: of the training-loss Hessian (power iteration); trace: Hutchinson's estimate; all on "
            "the same fixed training batches for every run of a task. ratio_to_training: the analysis job's wall "
            "time over the run's training time.")
    page = html_page("Flatness", [("Per task and method (mean and std over seeds)", summary, note),
                                  ("Paired differences to finetune (method - finetune, same seeds)", differences,
                                   f"ci_low, ci_high: the paired {100 * (1 - alpha):g} % Student-t interval; mark: "
                                   f"the paired t-test, Holm-adjusted over the methods of one task and measure, "
                                   f"gives p < {alpha:g}. Negative: flatter than fine-tuning."),
                                  ("Every run", table, "")])
    writers = {
        "runs": lambda p: table.to_csv(p, index=False, float_format="%.6g"),
        "summary_md": lambda p: p.write_text(markdown),
        "summary_html": lambda p: p.write_text(page),
        "differences": lambda p: differences.to_csv(p, index=False, float_format="%.6g"),
        "perturbation": lambda p: curves.to_csv(p, index=False, float_format="%.6g"),
        "interpolation": lambda p: lines.to_csv(p, index=False, float_format="%.6g"),
    }
    for key, write in writers.items():
        with atomic_file(outputs[key]) as staging:
            write(Path(staging))


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.flatness, snakemake.input.runs, snakemake.params.tasks, snakemake.params.methods,
             snakemake.params.sharpness_radius, snakemake.params.statistics, dict(snakemake.output.items()))
