"""Score a trained model on every labelled evaluation split and keep its per-example predictions."""
from __future__ import annotations

from typing import Any

import datasets
import pandas as pd
import torch

from .metrics import compute_task_metrics, predictions_from_logits
from .tasks import TaskSpec
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
        predictions = predictions_from_logits(task, logits)
        metrics[name] = compute_task_metrics(task, predictions, split["label"])
        tables.append(pd.DataFrame({"split": name, "idx": split["idx"], "label": split["label"], "prediction": predictions}))
    return metrics, pd.concat(tables, ignore_index=True)
