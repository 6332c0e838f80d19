"""Score a trained model on every labelled evaluation split and keep its per-example predictions."""
from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch

from .metrics import compute_task_metrics, predictions_from_logits
from .study.tasks import TaskSpec
from .training import predict_logits

EVAL_SPLITS = ("validation", "test")


def evaluate_splits(
    model: torch.nn.Module, tokenizer, task: TaskSpec, splits: dict[str, datasets.Dataset]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics per evaluation split ({"validation": {...}, "test": {...}}) and a predictions table."""
    metrics: dict[str, Any] = {}
    tables = []
    for name in EVAL_SPLITS:
        if name not in splits:
            continue
        split = splits[name]
        logits = predict_logits(model, split, tokenizer)
        predictions, labels = predictions_from_logits(task, logits), np.asarray(split["label"])
        if task.is_regression:  # back to the dataset's own scale (STS-B 0..5); float32 noise rounded off the gold
            predictions, labels = predictions * task.label_scale, np.round(labels * task.label_scale, 6)
        metrics[name] = compute_task_metrics(task, predictions, labels)
        tables.append(pd.DataFrame({"split": name, "idx": split["idx"], "label": labels, "prediction": predictions}))
    return metrics, pd.concat(tables, ignore_index=True)
