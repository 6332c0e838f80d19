"""Trained students as MLflow models: logged with the transformers flavor, linked to their run, and the best seed of
each (task, method) in the model registry, so `mlflow.transformers.load_model("models:/<name>/<version>")` and
`mlflow models serve` take a study's result as they take any model.

A LoggedModel is created for the run it came from (`source_run_id`), its weights are uploaded through
`mlflow.transformers.log_model(model_id=...)`, and the run's final metrics are logged again against it, so the
model page shows the scores it was registered for; finished runs are never reopened. The best seed is chosen on
the held-out training rows (never on the reported dev split), ties going to the lower seed.
"""
from __future__ import annotations

from typing import Any

import mlflow
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.tracking import MlflowClient

from .store import retrying

PIPELINE_TASK = {"classification": "text-classification", "qa": "question-answering"}


def best_seed(heldout: dict[int, float]) -> int:
    """The seed with the highest held-out score; on a tie, the lowest seed (a fixed, documented choice)."""
    return min(heldout, key=lambda seed: (-heldout[seed], seed))


def log_run_model(client: MlflowClient, run_id: str, experiment_id: str, model, tokenizer, family: str,
                  metrics: dict[str, float], name: str = "model") -> str:
    """Upload one run's model as an MLflow transformers model (a LoggedModel of that run); return its model id."""
    import torch
    import transformers

    logged = retrying(client.create_logged_model, experiment_id, name=name, source_run_id=run_id)
    mlflow.transformers.log_model(
        {"model": model, "tokenizer": tokenizer}, name=name, task=PIPELINE_TASK.get(family), model_id=logged.model_id,
        # given, not inferred: inference loads the model again in a subprocess, and offline it cannot resolve them
        pip_requirements=[f"transformers=={transformers.__version__}", f"torch=={torch.__version__.split('+')[0]}"])
    retrying(client.finalize_logged_model, logged.model_id, LoggedModelStatus.READY)
    mlflow.log_metrics(metrics, run_id=run_id, model_id=logged.model_id)
    retrying(client.log_outputs, run_id, [LoggedModelOutput(logged.model_id, step=0)])
    return logged.model_id


def register(client: MlflowClient, name: str, model_id: str, tags: dict[str, Any]) -> str:
    """Register a logged model under `name` (created on first use) with `tags` on the version; return the version."""
    version = mlflow.register_model(f"models:/{model_id}", name, tags={k: str(v) for k, v in tags.items()})
    return str(version.version)
