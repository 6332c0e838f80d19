"""Extractive question answering (SQuAD) building blocks.

The pieces follow the order of a QA run:

* `data` - load SQuAD, offline from the official json (split into train and validation parts BY ARTICLE, because
  questions about one paragraph share their context and would leak across a question-level split) or from the Hub;
* `features` - tokenise question + context into overlapping windows, with the answer's token positions for training
  and the character offsets needed to map predictions back to text for evaluation;
* `postprocess` - turn per-window start/end logits into one answer string per question;
* `squad_metric` - exact match and F1 with the official SQuAD normalisation, through the local `evaluate` module in
  `swa_study/metric_modules/squad_local`.

The functions live in the submodules (`from swa_study.qa.features import prepare_train_features`); this package
re-exports them lazily, so importing `swa_study.qa.data` does not pay for `evaluate` (about 4 s to import).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_squad_hub": "data",
    "load_squad_offline": "data",
    "build_train_features": "features",
    "build_validation_features": "features",
    "prepare_train_features": "features",
    "prepare_validation_features": "features",
    "postprocess_predictions": "postprocess",
    "compute_squad": "squad_metric",
    "exact_match_score": "squad_metric",
    "f1_score": "squad_metric",
    "load_squad_metric": "squad_metric",
    "normalize_answer": "squad_metric",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines `name` on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
