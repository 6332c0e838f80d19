"""Mirror the study's evidence into MLflow, after the runs themselves are there (sync.py's `sync_study`).

Each parent run (task, method) gets its task's figures and the study's tables as artifacts (plots/, tables/), so the
UI shows the evidence next to the runs it summarises; each child run (task, method, seed) gets its flatness
measures as metrics (`flatness_*`) and its flatness.json as an artifact; each parent the seeds' mean of them.
Kept apart from sync.py so that the run mirror and the evidence can change independently. Idempotent: an
artifact is uploaded only when its content changed (its SHA-256 is kept in a tag of the run), and a metric already
holding the same value is not logged again, so a second sync writes nothing.
"""
from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric

from ..io import read_json
from .store import retrying


def flatness_metrics(record: dict[str, Any]) -> dict[str, float]:
    hessian = record.get("hessian", {})
    values = {"flatness_loss": record.get("loss"), "flatness_sharpness": record.get("sharpness", {}).get("value"),
              "flatness_top_eigenvalue": hessian.get("top_eigenvalue"), "flatness_trace": hessian.get("trace"),
              "flatness_cost_ratio": record.get("cost", {}).get("ratio_to_training")}
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _log_new(client, run, values: dict[str, float]) -> int:
    """Log the metrics whose latest value differs (or is missing); return how many were logged."""
    changed = {k: v for k, v in values.items() if run.data.metrics.get(k) != v}
    if changed:
        now = int(time.time() * 1000)
        retrying(client.log_batch, run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in changed.items()])
    return len(changed)


def _attach(client, run, path: str | Path, folder: str) -> int:
    """Upload `path` into the run's `folder` unless the run already holds this content; return 1 if uploaded."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    tag = f"artifact.{folder}/{Path(path).name}.sha256"
    if run.data.tags.get(tag) == digest:
        return 0
    retrying(client.log_artifact, run.info.run_id, str(path), folder)
    retrying(client.set_tag, run.info.run_id, tag, digest)
    return 1


def sync_evidence(client, experiment: str, plots: list[str], tables: list[str],
                  flatness_files: list[str]) -> dict[str, int]:
    """Attach plots and tables to the parent runs and flatness to the child runs of the experiment."""
    runs = retrying(client.search_runs, [experiment], max_results=50000)
    by_key = {r.data.tags.get("run_key"): r for r in runs if r.data.tags.get("run_key")}
    parents = [r for r in runs if r.data.tags.get("kind") == "group"]
    counts = {"artifacts": 0, "metrics": 0}
    for parent in parents:
        task = parent.data.tags.get("task")
        for path in map(Path, plots):
            if path.parent.name == task:  # plots/<task>/<figure>
                counts["artifacts"] += _attach(client, parent, path, "plots")
        for path in map(Path, tables):
            counts["artifacts"] += _attach(client, parent, path, "tables")
    per_group: dict[str, list[dict[str, float]]] = {}
    for path in flatness_files:
        record = read_json(path)
        group = f"{record['task']}/{record['method']}"
        child = by_key.get(f"{group}/seed{record['seed']}")
        values = flatness_metrics(record)
        per_group.setdefault(group, []).append(values)
        if child is None:
            continue
        counts["metrics"] += _log_new(client, child, values)
        counts["artifacts"] += _attach(client, child, path, "analysis")
    for group, records in per_group.items():
        parent = by_key.get(group)
        if parent is None:
            continue
        keys = sorted({k for r in records for k in r})
        means = {f"{k}_mean": sum(r[k] for r in records if k in r) / sum(1 for r in records if k in r) for k in keys}
        counts["metrics"] += _log_new(client, parent, means)
    return counts
