"""Task metrics through `evaluate`'s interface, from local modules (the Hub's modules cannot be fetched offline).

Each module in metric_modules/ wraps scikit-learn or scipy; `evaluate.load` takes its folder path. Online users
get the same numbers: the modules mirror the Hub modules' keys.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .study.tasks import TaskSpec

if TYPE_CHECKING:
    import evaluate

METRIC_MODULES = Path(__file__).resolve().parent / "metric_modules"


@lru_cache(maxsize=None)
def load_metric(name: str) -> evaluate.EvaluationModule:
    """The module from its folder. `evaluate` loads here, not at import: it pulls in transformers' pipelines
    (seconds), and the training steps that import this module score nothing with it unless a method asks."""
    import evaluate

    folder = METRIC_MODULES / name
    if not (folder / f"{name}.py").is_file():
        raise KeyError(f"no local metric module {name!r} in {METRIC_MODULES}")
    return evaluate.load(str(folder))


def predictions_from_logits(task: TaskSpec, logits: np.ndarray) -> np.ndarray:
    """Class ids (argmax) for classification, the single output for regression."""
    logits = np.asarray(logits)
    return logits.reshape(-1) if task.is_regression else logits.argmax(axis=-1)


def compute_task_metrics(task: TaskSpec, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """Every metric the task declares, as plain floats keyed by metric name."""
    results: dict[str, float] = {}
    for name in task.metrics:
        results.update(load_metric(name).compute(predictions=list(predictions), references=list(references)))
    return {key: float(value) for key, value in results.items()}
