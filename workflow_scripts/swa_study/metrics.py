"""Task metrics: classification and regression scores from scikit-learn and scipy; generation and QA scores through
`evaluate`'s interface, from local modules (the Hub's modules cannot be fetched offline).

The classification keys and values are those of the Hub's `evaluate` modules of the same names, so online and
offline users read the same numbers. They are computed here directly: a scoring job then does not import
`evaluate`, whose import pulls in transformers' pipelines, which no step here uses.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from .study.tasks import TaskSpec

if TYPE_CHECKING:
    import evaluate

METRIC_MODULES = Path(__file__).resolve().parent / "metric_modules"


CLASSIFICATION_METRICS: dict[str, Callable[[Sequence, Sequence], float]] = {  # (predictions, references)
    "accuracy": lambda predictions, references: accuracy_score(references, predictions),
    # binary F1 of the positive class (label 1), the Hub module's default
    "f1": lambda predictions, references: f1_score(references, predictions, pos_label=1, average="binary"),
    "matthews_correlation": lambda predictions, references: matthews_corrcoef(references, predictions),
    "pearsonr": lambda predictions, references: pearsonr(references, predictions)[0],
    "spearmanr": lambda predictions, references: spearmanr(references, predictions)[0],
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
