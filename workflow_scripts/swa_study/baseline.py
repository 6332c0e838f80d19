"""The trivial baseline of a task: the floor beside every score, so a reader sees when a student learned nothing.

Classification: the majority class of the training rows, predicted for every example (MRPC's majority, the
positive class, scores F1 81.2 on dev with no model at all). Its class probabilities, for the calibration table,
are the training rows' class frequencies, add-one smoothed so that NLL stays finite for a class the training rows
lack (the smoothing keeps the majority on top). Regression: the mean training score, on the dataset's own scale.
Scored with the task's own metrics (metrics.py), on dev and on test where it is labelled.

A constant prediction carries no correlation with the gold labels: Matthews, Pearson and Spearman correlations
are 0/0 for it (scipy returns NaN; scikit-learn's Matthews returns 0 by its own convention). All three are
reported as 0.0, and the record lists them under `constant_correlations` so the tables can say so.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .calibration import calibration_metrics
from .metrics import compute_task_metrics
from .study.tasks import TaskSpec

CORRELATION_METRICS = ("matthews_correlation", "pearsonr", "spearmanr")


def gold(task: TaskSpec, labels) -> np.ndarray:
    """Labels on the dataset's own scale: regression labels are stored divided by `task.label_scale` (float32),
    scaled back and rounded as evaluation.py does, so the floor and the runs score the same gold values."""
    labels = np.asarray(labels)
    return np.round(labels.astype(float) * task.label_scale, 6) if task.is_regression else labels.astype(int)


def trivial_prediction(task: TaskSpec, train_labels: np.ndarray) -> dict[str, Any]:
    """What the baseline predicts: {"rule", "value"} plus, for classes, the counts and smoothed frequencies."""
    if task.is_regression:
        return {"rule": "mean training score", "value": float(np.mean(train_labels)), "train_rows": len(train_labels)}
    counts = np.bincount(train_labels, minlength=task.num_labels)
    names = {index: name for name, index in (task.label_map or {}).items()}
    majority = int(np.argmax(counts))  # ties: the lowest class id
    return {"rule": "majority class", "value": majority, "label": names.get(majority, str(majority)),
            "train_rows": len(train_labels), "class_counts": counts.tolist(),
            "probabilities": ((counts + 1) / (counts.sum() + len(counts))).tolist()}


def score_constant(task: TaskSpec, prediction: dict[str, Any], labels: np.ndarray,
                   calibration_bins: int = 15) -> dict[str, float]:
    """The task's metrics of predicting `prediction["value"]` for every row of `labels`; correlations 0.0;
    classification adds the calibration of the smoothed class frequencies (ECE, NLL, Brier)."""
    constant = np.full(len(labels), prediction["value"], dtype=float if task.is_regression else int)
    with warnings.catch_warnings():  # a constant: scipy warns about the correlation, sklearn about F1's 0/0
        warnings.simplefilter("ignore")
        metrics = compute_task_metrics(task, constant, labels)
    metrics.update({name: 0.0 for name in metrics if name in CORRELATION_METRICS})
    if not task.is_regression:
        probabilities = np.tile(prediction["probabilities"], (len(labels), 1))
        metrics.update(calibration_metrics(probabilities, labels, calibration_bins))
    return metrics


def trivial_record(task: TaskSpec, splits: dict[str, Any], calibration_bins: int = 15) -> dict[str, Any]:
    """The baseline's metrics.json: fitted on `splits["train"]` labels, scored on every other split given
    (validation, and test where labelled). `splits` maps split names to their stored `label` columns."""
    if task.family != "classification":
        raise ValueError(f"task {task.name!r} is a {task.family} task: the trivial baseline (majority class or mean "
                         "score) is defined for classification and regression tasks only")
    labels = {name: gold(task, values) for name, values in splits.items()}
    prediction = trivial_prediction(task, labels["train"])
    record: dict[str, Any] = {"task": task.name, "method": "trivial", "main_metric": task.main_metric,
                              "predicts": prediction,
                              "constant_correlations": [m for m in task.metrics if m in CORRELATION_METRICS]}
    for name in ("validation", "test"):
        if name in labels:
            record[name] = score_constant(task, prediction, labels[name], calibration_bins)
    return record
