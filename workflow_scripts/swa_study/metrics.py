"""Task metrics: classification and regression scores from scikit-learn and scipy; generation and QA scores through
`evaluate`'s interface, from local modules (the Hub's modules cannot be fetched offline).

The classification keys and values are those of the Hub's `evaluate` modules of the same names, so online and
offline users read the same numbers. They are computed here directly: importing `evaluate` pulls in transformers'
pipelines, seconds per scoring job, more than scoring a small model takes.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .study.tasks import TaskSpec

if TYPE_CHECKING:
    import evaluate

METRIC_MODULES = Path(__file__).resolve().parent / "metric_modules"


def _accuracy(predictions: Sequence, references: Sequence) -> float:
    from sklearn.metrics import accuracy_score

    return accuracy_score(references, predictions)


def _f1(predictions: Sequence, references: Sequence) -> float:
    """Binary F1 of the positive class (label 1), the Hub module's default."""
    from sklearn.metrics import f1_score

    return f1_score(references, predictions, pos_label=1, average="binary")


def _matthews_correlation(predictions: Sequence, references: Sequence) -> float:
    from sklearn.metrics import matthews_corrcoef

    return matthews_corrcoef(references, predictions)


def _pearsonr(predictions: Sequence, references: Sequence) -> float:
    from scipy.stats import pearsonr

    return pearsonr(references, predictions)[0]


def _spearmanr(predictions: Sequence, references: Sequence) -> float:
    from scipy.stats import spearmanr

    return spearmanr(references, predictions)[0]


CLASSIFICATION_METRICS: dict[str, Callable[[Sequence, Sequence], float]] = {
    "accuracy": _accuracy,
    "f1": _f1,
    "matthews_correlation": _matthews_correlation,
    "pearsonr": _pearsonr,
    "spearmanr": _spearmanr,
}


@lru_cache(maxsize=None)
def load_metric(name: str) -> evaluate.EvaluationModule:
    """A generation or QA module from its folder (metric_modules/<name>). `evaluate` loads here, not at import."""
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
    """Every metric a classification or regression task declares, as plain floats keyed by metric name."""
    return {name: float(CLASSIFICATION_METRICS[name](list(predictions), list(references))) for name in task.metrics}
