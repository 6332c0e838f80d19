"""The tracking store: a client that fails fast on an unreachable server and retries while SQLite is busy.

Several training jobs log to one SQLite file at once. SQLite takes one writer at a time and answers the others
"database is locked" once its busy timeout runs out; those calls are retried with exponential backoff (jittered,
so waiting writers do not collide again), and only that error is: anything else is a real problem. A tracking
server that is down answers "connection refused" at once, so the client is told not to retry for minutes.
"""
from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

T = TypeVar("T")
BUSY = ("database is locked", "database table is locked", "database schema is locked")
EXPERIMENT_KIND = "custom_model_development"  # MLflow 3's UI then opens the experiment on its runs table
# MLflow checks for a dataset, then inserts it: two runs logging the same dataset at once race, and the loser's
# retry finds the winner's row.
DATASET_RACE = ("UNIQUE constraint failed: datasets", "duplicate key value violates unique constraint")


def client_for(uri: str) -> MlflowClient:
    """A client for `uri`; HTTP requests give up after one try of 10 s, so an outage costs seconds, not minutes."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    return MlflowClient(tracking_uri=uri)


def is_busy(error: BaseException, also: tuple[str, ...] = ()) -> bool:
    text = str(error).lower()
    return any(marker.lower() in text for marker in BUSY + also)


def retrying(call: Callable[..., T], *args: Any, attempts: int = 30, also: tuple[str, ...] = (), **kwargs: Any) -> T:
    """`call(*args, **kwargs)`, retried with jittered exponential backoff (up to about a minute) while the store is
    busy, or fails with one of the `also` messages (a race the retry resolves); other errors propagate at once."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as error:  # noqa: BLE001  (MlflowException and SQLAlchemy's OperationalError alike)
            if not is_busy(error, also) or attempt == attempts - 1:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def artifact_root(uri: str, configured: str | None) -> str | None:
    """Where a new experiment keeps artifacts: as configured; for a local store, mlartifacts/ beside it; for a
    server, its own (proxied) artifact store."""
    if configured:
        return configured if "://" in configured or configured.startswith("mlflow-artifacts:") \
            else Path(configured).resolve().as_uri()
    return None if uri.startswith(("http://", "https://")) else Path("mlartifacts").resolve().as_uri()


def experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The study's experiment, created on first use and marked as model training (not GenAI)."""
    found = retrying(client.get_experiment_by_name, name)
    if found is None:
        try:
            identifier = retrying(client.create_experiment, name, artifact_location=artifact_location)
        except Exception:  # another process created it first
            found = retrying(client.get_experiment_by_name, name)
            if found is None:
                raise
            identifier = found.experiment_id
    else:
        identifier = found.experiment_id
    if found is None or found.tags.get("mlflow.experimentKind") != EXPERIMENT_KIND:
        retrying(client.set_experiment_tag, identifier, "mlflow.experimentKind", EXPERIMENT_KIND)
    return identifier


def find_run(client: MlflowClient, experiment: str, run_key: str) -> Run | None:
    """The live (not deleted) run tagged `run_key`, the newest if there are several."""
    runs = retrying(client.search_runs, [experiment], filter_string=f"tags.run_key = '{run_key}'",
                    order_by=["attributes.start_time DESC"], max_results=10)
    return runs[0] if runs else None


def ensure_parent(client: MlflowClient, experiment: str, run_key: str, tags: dict[str, str]) -> str:
    """The parent run that groups the seeds of one (task, method), created once. It stays RUNNING while its
    children train (a child that starts marks it so again, `mark_running`); `mlflow_sync` ends it at its last
    child's end, so it spans its children's times."""
    found = find_run(client, experiment, run_key)
    if found is not None:
        return found.info.run_id
    run = retrying(client.create_run, experiment, run_name=run_key, tags={"run_key": run_key, **tags})
    return run.info.run_id


RUNNING = RunStatus.to_string(RunStatus.RUNNING)


def mark_running(client: MlflowClient, run_id: str) -> None:
    """RUNNING again: a parent whose child starts training (until the study's sync ends it), a run resumed after
    its job broke."""
    if retrying(client.get_run, run_id).info.status != RUNNING:
        retrying(client.update_run, run_id, status=RUNNING)


def warn_once(state: dict[str, bool], uri: str, error: BaseException, what: str) -> None:
    if state.get("warned"):
        return
    state["warned"] = True
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    message = (f"warning: MLflow tracking at {uri} failed while {what} ({reason}); the run goes on and "
               "`mlflow_sync` will copy it from results/")
    print(message, file=sys.stderr)
    if sys.__stderr__ is not sys.stderr:
        print(message, file=sys.__stderr__)
