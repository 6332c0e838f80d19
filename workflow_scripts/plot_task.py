"""Step plot_task[task]: the task's figures of scores, training and compute.

Inputs:  the task's runs (metrics.json, train_log.jsonl), tables/compute.csv, the teacher's metrics.json if any,
         the trivial baseline's metrics.json if the task has one (classification and regression).
Params:  methods (study order: one colour per method), metric (the task's main metric), statistics (alpha).
Outputs: plots/<task>/scores.png and .svg (mean per method with its Student-t interval over seeds, seeds as
         dots, teacher dashed, trivial baseline dotted), training.png (training loss and LR per step, one line per
         method: SWA's constant phase shows), compute.png (score against wall time and FLOPs per run, teacher
         included where used).
Run:     snakemake --cores all -R plot_task
"""
import json
from pathlib import Path

import pandas as pd

from swa_study.io import atomic_file, read_json
from swa_study.plots import plot_compute, plot_scores, plot_training
from swa_study.report import load_baselines, load_runs
from swa_study.steps import step_log


def read_logs(log_files: list[str], metric: str) -> pd.DataFrame:
    """Every train_log.jsonl record with its run's method and seed (the run folder names them); `heldout` is the
    held-out score after an epoch (student.heldout_curve), NaN on the other records."""
    rows = []
    for path in map(Path, log_files):
        info = read_json(path.parent / "train_info.json")
        for line in path.read_text().splitlines():
            record = json.loads(line)
            rows.append({"method": info["method"], "seed": info["seed"], "step": record["step"],
                         "epoch": record.get("epoch"), "loss": record.get("loss"),
                         "learning_rate": record.get("learning_rate"), "heldout": record.get(f"heldout_{metric}")})
    columns = ["method", "seed", "step", "epoch", "loss", "learning_rate", "heldout"]
    return pd.DataFrame(rows, columns=columns).astype({c: float for c in columns[3:]})


def main(task: str, run_files, log_files, compute_file: str, teacher_files, baseline_files, methods: list[str],
         metric: str, statistics: dict, outputs: dict[str, str]) -> None:
    runs = load_runs(run_files)
    teacher = load_runs(teacher_files)["score"].iloc[0] if teacher_files else None
    floor = load_baselines(baseline_files)["score"].iloc[0] if baseline_files else None
    with atomic_file(outputs["scores_png"]) as png, atomic_file(outputs["scores_svg"]) as svg:
        plot_scores(runs, methods, task, metric, teacher, [png, svg], statistics["alpha"], floor)
    with atomic_file(outputs["training"]) as staging:
        plot_training(read_logs(log_files, metric), methods, task, staging, metric)
    with atomic_file(outputs["compute"]) as staging:
        plot_compute(pd.read_csv(compute_file), runs, methods, task, metric, staging)


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.wildcards.task, snakemake.input.runs, snakemake.input.logs, snakemake.input.compute,
             snakemake.input.teachers, snakemake.input.baseline, snakemake.params.methods, snakemake.params.metric,
             snakemake.params.statistics, dict(snakemake.output.items()))
