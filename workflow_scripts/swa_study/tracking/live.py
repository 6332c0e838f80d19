"""A training job's MLflow run, written while it trains and completed by its evaluation job.

The run is created when training starts (params, tags, dataset inputs, the real start time), fed the Trainer's log
events as they happen (loss, learning rate, grad norm, held-out scores; sent in batches every few seconds by a
background thread, so training never waits on the store), and closed with its real end time. A job that resumes
from a checkpoint continues its run (same `attempt`) without logging a step twice; a job that starts over replaces
its old run. Whatever goes wrong with the store - a server down, a corrupt file - costs one warning line and
nothing else: the files in results/ are complete either way, and `mlflow_sync` copies what is missing.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from transformers import TrainerCallback

from ..io import read_json
from .records import dataset_inputs, record_metrics
from .store import DATASET_RACE, client_for, find_run, mark_running, retrying, warn_once

FLUSH_SECONDS = 5.0


def tracking_context(tracking: dict[str, Any] | None, init_file: str | None) -> dict[str, Any] | None:
    """The experiment and parent runs init_tracking.py prepared, or None when live logging is off or impossible."""
    if not tracking or not tracking.get("enabled") or not init_file or not Path(init_file).is_file():
        return None
    init = read_json(init_file)
    if init.get("status") != "complete":
        return None
    return {**init, "system_metrics": tracking.get("system_metrics", False),
            "system_metrics_seconds": tracking.get("system_metrics_seconds", 10)}


class LiveRun(TrainerCallback):
    """Mirrors one training job into MLflow as it trains. `method.step_offset` shifts steps of later phases."""

    def __init__(self, context: dict[str, Any] | None, run_key: str, parent_key: str | None, attempt: str,
                 params: dict[str, Any], tags: dict[str, str], data_info: dict[str, Any] | None = None,
                 task: str = "", method: Any = None):
        self.context, self.run_key, self.parent_key, self.attempt = context, run_key, parent_key, attempt
        self.params, self.tags, self.data_info, self.task, self.method = params, tags, data_info, task, method
        self.run_id: str | None = None
        self.client = None
        self.pending: list[Metric] = []
        self.logged_steps: set[tuple[str, int]] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.state: dict[str, bool] = {}
        self.monitor = None  # mlflow's SystemMetricsMonitor, with tracking.system_metrics

    @property
    def active(self) -> bool:
        return self.run_id is not None and not self.state.get("warned")

    def start(self) -> None:
        if self.context is None:
            return
        try:
            self.client = client_for(self.context["uri"])
            experiment = self.context["experiment_id"]
            found = find_run(self.client, experiment, self.run_key)
            if found is not None and found.data.tags.get("attempt") == self.attempt:  # resumed from a checkpoint
                self.run_id = found.info.run_id
                mark_running(self.client, self.run_id)  # it may have ended FAILED when the job broke
                for key in ("train_loss", "learning_rate", "grad_norm"):
                    history = retrying(self.client.get_metric_history, self.run_id, key)
                    self.logged_steps.update((key, m.step) for m in history)
            else:  # a fresh attempt supersedes any earlier run of this job
                if found is not None:
                    retrying(self.client.delete_run, found.info.run_id)
                tags = {"run_key": self.run_key, "attempt": self.attempt, **self.tags}
                parent = self.context.get("parents", {}).get(self.parent_key) if self.parent_key else None
                if parent:
                    tags["mlflow.parentRunId"] = parent
                    mark_running(self.client, parent)
                run = retrying(self.client.create_run, experiment, start_time=int(time.time() * 1000), tags=tags,
                               run_name=self.run_key)
                self.run_id = run.info.run_id
                params = [Param(k, str(v)[:6000]) for k, v in self.params.items()]
                for start in range(0, len(params), 100):
                    retrying(self.client.log_batch, self.run_id, params=params[start:start + 100])
                if self.data_info:
                    retrying(self.client.log_inputs, self.run_id, also=DATASET_RACE,
                             datasets=dataset_inputs(self.task, self.data_info))
        except Exception as error:  # noqa: BLE001  (the store's trouble must never stop training)
            warn_once(self.state, self.context["uri"], error, "starting the run")
            return
        self.thread = threading.Thread(target=self._flush_periodically, daemon=True)
        self.thread.start()
        if self.context.get("system_metrics"):  # CPU, memory, disk, network (and GPUs, with pynvml) while training
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            every = self.context["system_metrics_seconds"]
            self.monitor = SystemMetricsMonitor(self.run_id, sampling_interval=every, tracking_uri=self.context["uri"])
            self.monitor.start()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.active:
            return
        # Imported here: the evaluate job logs through this module too, and must not load the Trainer (seconds).
        from ..training import log_record
        offset = getattr(self.method, "step_offset", 0)
        metrics = [m for m in record_metrics(log_record(state, logs), step_offset=offset)
                   if (m.key, m.step) not in self.logged_steps]
        with self.lock:
            self.pending.extend(metrics)

    def _flush_periodically(self) -> None:
        while not self.stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
        if not batch or not self.active:
            return
        try:
            for start in range(0, len(batch), 1000):
                retrying(self.client.log_batch, self.run_id, metrics=batch[start:start + 1000])
        except Exception as error:  # noqa: BLE001
            warn_once(self.state, self.context["uri"], error, "logging metrics")

    def on_train_end(self, args, state, control, **kwargs):
        self.end(RunStatus.FINISHED)

    def fail(self) -> None:
        """The job raised: its run ends FAILED instead of staying RUNNING (a resume of this attempt reopens it)."""
        self.end(RunStatus.FAILED)

    def end(self, status: int) -> None:
        self.flush()
        if self.monitor is not None:
            self.monitor.finish()
            self.monitor = None
        if self.active:
            try:
                retrying(self.client.set_terminated, self.run_id, RunStatus.to_string(status),
                         end_time=int(time.time() * 1000))
            except Exception as error:  # noqa: BLE001
                warn_once(self.state, self.context["uri"], error, "ending the run")

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.flush()


def log_evaluation(context: dict[str, Any] | None, run_key: str, attempt: str | None, metrics: list[Metric],
                   artifacts: list[Path]) -> None:
    """The evaluation job's part of a live run: final scores and the run's files. Skipped (sync does it) when the
    run is not this attempt's, or the store is unavailable."""
    if context is None or attempt is None:
        return
    state: dict[str, bool] = {}
    try:
        client = client_for(context["uri"])
        found = find_run(client, context["experiment_id"], run_key)
        if found is None or found.data.tags.get("attempt") != attempt:
            return
        retrying(client.log_batch, found.info.run_id, metrics=metrics)
        for path in artifacts:
            if path.is_file():
                retrying(client.log_artifact, found.info.run_id, str(path))
    except Exception as error:  # noqa: BLE001
        warn_once(state, context["uri"], error, "logging the evaluation")
