"""Step plot_flatness[task]: the task's flatness figures.

Inputs:  analysis/flatness.csv, perturbation.csv, interpolation.csv (rule flatness_tables).
Params:  methods (study order: one colour per method), metric (the task's main metric).
Outputs: plots/<task>/interpolation.png (training loss and dev metric along the line from finetune to each
         averaged run of the same seed), perturbation.png (loss rise against the filter-normalised radius),
         sharpness.png and .svg (dev score against sharpness and top Hessian eigenvalue, every run of the task).
Run:     snakemake --cores all -R plot_flatness
"""
import pandas as pd

from swa_study.io import atomic_file
from swa_study.plots import plot_interpolation, plot_perturbation, plot_sharpness
from swa_study.steps import step_log


def read(path: str, task: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:  # no run of the study had a line: the file is empty
        return pd.DataFrame(columns=["task", "method", "seed"])
    return frame[frame.task == task]


def main(task: str, runs_file: str, perturbation_file: str, interpolation_file: str, methods: list[str],
         metric: str, outputs: dict[str, str]) -> None:
    with atomic_file(outputs["interpolation"]) as staging:
        plot_interpolation(read(interpolation_file, task), methods, task, metric, staging)
    with atomic_file(outputs["perturbation"]) as staging:
        plot_perturbation(read(perturbation_file, task), methods, task, staging)
    with atomic_file(outputs["sharpness_png"]) as png, atomic_file(outputs["sharpness_svg"]) as svg:
        plot_sharpness(read(runs_file, task), methods, task, metric, [png, svg])


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.wildcards.task, snakemake.input.runs, snakemake.input.perturbation,
             snakemake.input.interpolation, snakemake.params.methods, snakemake.params.metric,
             dict(snakemake.output.items()))
