"""Step trivial_baseline[task]: the floor beside the task's scores, the majority class of the training rows
(classification) or their mean score (regression), scored on dev and on test where labelled.

Inputs:  the task's student-tokenised data folder (the one evaluate reads; only its `label` columns are used).
Params:  task (name and definition), evaluation.calibration_bins (the calibration of the class frequencies).
Outputs: baseline/<task>/metrics.json: task, method "trivial", main_metric, what it predicts (the class or the
         mean, with the training rows' counts), validation and test metrics, and which correlation metrics are
         0.0 by convention (a constant prediction carries no correlation). See swa_study/baseline.py.
Run:     snakemake --cores all -R trivial_baseline
"""
from pathlib import Path

import datasets

from swa_study.baseline import trivial_record
from swa_study.io import write_json
from swa_study.steps import step_log
from swa_study.study.tasks import task_from_param

SPLITS = ("train", "validation", "test")  # not `heldout`: the floor is fitted on the rows the students train on


def main(task_param: dict, data_dir: str, output: str, calibration_bins: int = 15) -> None:
    task = task_from_param(task_param)
    folder = Path(data_dir)
    if not (folder / "train").is_dir() or not (folder / "validation").is_dir():
        raise FileNotFoundError(f"{folder}: no train/ and validation/ splits; rerun prepare_data for {task.name}")
    labels = {name: datasets.load_from_disk(str(folder / name))["label"] for name in SPLITS
              if (folder / name).is_dir()}
    write_json(output, trivial_record(task, labels, calibration_bins))


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.params.task, snakemake.input.data, snakemake.output[0], snakemake.params.calibration_bins)
