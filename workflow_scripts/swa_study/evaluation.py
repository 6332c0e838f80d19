"""Score a trained model on every labelled evaluation split and keep its per-example predictions.

Classification also gets its calibration (swa_study/calibration.py): ECE, NLL and Brier score join the split's
metrics, and the per-bin numbers of its reliability diagram go under `reliability`. Scoring is separate from
predicting, so SWAG's Bayesian model average (swag_bma.py) scores its averaged predictions the same way.
"""
from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch

from .calibration import calibration_metrics, probabilities, reliability
from .metrics import compute_task_metrics, predictions_from_logits
from .study.tasks import TaskSpec
from .prediction import predict_logits

EVAL_SPLITS = ("validation", "test")


def split_logits(model: torch.nn.Module, tokenizer, splits: dict[str, datasets.Dataset]) -> dict[str, np.ndarray]:
    """The model's logits on every evaluation split the data has."""
    return {name: predict_logits(model, splits[name], tokenizer) for name in EVAL_SPLITS if name in splits}


def score_splits(task: TaskSpec, splits: dict[str, datasets.Dataset], logits: dict[str, np.ndarray],
                 calibration_bins: int = 15) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics per split ({"validation": {...}, "test": {...}, "reliability": {split: bins}}) and a predictions
    table, from logits (or log-probabilities: the argmax and the softmax are the same)."""
    metrics: dict[str, Any] = {}
    tables = []
    for name, split_logit in logits.items():
        split = splits[name]
        predictions, labels = predictions_from_logits(task, split_logit), np.asarray(split["label"])
        if task.is_regression:  # back to the dataset's own scale (STS-B 0..5); float32 noise rounded off the gold
            predictions, labels = predictions * task.label_scale, np.round(labels * task.label_scale, 6)
        metrics[name] = compute_task_metrics(task, predictions, labels)
        if not task.is_regression:
            probs = probabilities(split_logit)
            metrics[name].update(calibration_metrics(probs, labels, calibration_bins))
            metrics.setdefault("reliability", {})[name] = reliability(probs, labels, calibration_bins)
        tables.append(pd.DataFrame({"split": name, "idx": split["idx"], "label": labels, "prediction": predictions}))
    return metrics, pd.concat(tables, ignore_index=True)


def evaluate_splits(
    model: torch.nn.Module, tokenizer, task: TaskSpec, splits: dict[str, datasets.Dataset], calibration_bins: int = 15,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics per evaluation split ({"validation": {...}, "test": {...}}) and a predictions table."""
    return score_splits(task, splits, split_logits(model, tokenizer, splits), calibration_bins)


def score_heldout(model: torch.nn.Module, tokenizer, task: TaskSpec, heldout: datasets.Dataset) -> dict[str, float]:
    """The task's metrics (and calibration) on the held-out rows of the training split: what a tuning trial is
    selected on. The rows were never trained on, and they are not the dev split the tables report."""
    if heldout is None or len(heldout) == 0:
        raise ValueError(f"{task.name}: no held-out training rows to score a tuning trial on (data.heldout_size)")
    metrics, _ = score_splits(task, {"heldout": heldout}, {"heldout": predict_logits(model, heldout, tokenizer)})
    return metrics["heldout"]
