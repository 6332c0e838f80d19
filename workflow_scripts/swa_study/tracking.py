"""Mirror results/ into MLflow: one experiment per study, a parent run per (task, method), a child run per seed.

Training jobs never write to the tracking store: they write files, and this one step copies them in afterwards.
So parallel jobs cannot race on an SQLite store, a study without MLflow runs unchanged (tracking.enabled: false),
and a lost store is rebuilt from results/ by rerunning the `mlflow_sync` rule. The copy is idempotent: a run whose
files did not change (same fingerprint) is left alone; a changed one is replaced.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterable

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from .io import read_json

RUN_FILES = ("metrics.json", "train_info.json", "train_log.jsonl", "predictions.tsv")
TEACHER_FILES = ("metrics.json", "train_log.jsonl")
STEP_KEYS = {"loss": "train_loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
             "phase": "phase", "anneal_t": "anneal_t"}  # the last two: Annealing-KD's phases


def fingerprint(folder: Path, names: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    return {prefix: value}


def step_metrics(train_log: Path) -> list[Metric]:
    """Per-step training loss, learning rate, grad norm, and per-epoch held-out metrics from a train_log.jsonl,
    each stamped with the time it was measured (older logs without one get the time of copying)."""
    now = time.time()
    metrics = []
    for line in train_log.read_text().splitlines():
        record = json.loads(line)
        stamp = int(float(record.get("time", now)) * 1000)
        for key, value in record.items():
            name = STEP_KEYS.get(key, key if key.startswith("heldout_") else None)
            if name and isinstance(value, (int, float)):
                metrics.append(Metric(name, float(value), stamp, int(record["step"])))
    return metrics


class MlflowMirror:
    def __init__(self, uri: str, experiment: str, artifact_location: str):
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment, artifact_location=Path(artifact_location).resolve().as_uri()
        )

    def _find(self, run_key: str):
        runs = self.client.search_runs([self.experiment_id], filter_string=f"tags.run_key = '{run_key}'")
        return runs[0] if runs else None

    def parent(self, run_key: str, tags: dict[str, str]) -> str:
        found = self._find(run_key)
        if found:
            return found.info.run_id
        run = self.client.create_run(self.experiment_id, run_name=run_key, tags={"run_key": run_key, **tags})
        self.client.set_terminated(run.info.run_id)
        return run.info.run_id

    def log_run(self, run_key: str, run_fingerprint: str, params: dict[str, Any], metrics: list[Metric],
                tags: dict[str, str], artifacts: list[Path], parent_id: str | None = None) -> tuple[str, bool]:
        """Create (or replace, when its files changed) one run; return its id and whether it was written."""
        found = self._find(run_key)
        if found and found.data.tags.get("fingerprint") == run_fingerprint:
            return found.info.run_id, False
        if found:
            self.client.delete_run(found.info.run_id)
        all_tags = {"run_key": run_key, "fingerprint": run_fingerprint, **tags}
        if parent_id:
            all_tags["mlflow.parentRunId"] = parent_id
        run_id = self.client.create_run(self.experiment_id, run_name=run_key, tags=all_tags).info.run_id
        param_list = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(param_list), 100):
            self.client.log_batch(run_id, params=param_list[start:start + 100])
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[start:start + 1000])
        for path in artifacts:
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), path.name)
            elif path.is_file():
                self.client.log_artifact(run_id, str(path))
        self.client.set_terminated(run_id)
        return run_id, True

    def set_metrics(self, run_id: str, values: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()])


def final_metrics(record: dict[str, Any]) -> list[Metric]:
    now = int(time.time() * 1000)
    splits = ("validation", "test", "validation_swa_mean", "test_swa_mean")  # SWAG: BMA and its mean model
    values = {f"{split}_{name}": value for split in splits for name, value in record.get(split, {}).items()}
    compute = record.get("compute", {})
    values.update({k: compute[k] for k in ("train_seconds", "optimizer_steps") if isinstance(compute.get(k), (int, float))})
    return [Metric(k, float(v), now, 0) for k, v in values.items()]


def version_tags(environment: dict[str, Any]) -> dict[str, str]:
    tags = {f"version.{k}": str(environment[k]) for k in ("torch", "transformers", "datasets", "python") if k in environment}
    if "git_commit" in environment:
        tags["git_commit"] = str(environment["git_commit"])
    return tags


def sync_study(mirror: MlflowMirror, study: str, run_metric_files: list[str], teacher_metric_files: list[str],
               log_models: bool, study_config: str = "") -> dict[str, Any]:
    """Copy every student and teacher run into MLflow; return {run_key: run_id} and how many were written.

    `study_config` (the resolved config as YAML) is attached to every parent run, so the UI shows the whole study.
    """
    summary: dict[str, Any] = {"experiment_id": mirror.experiment_id, "runs": {}, "written": 0, "unchanged": 0}
    seed_scores: dict[str, list[float]] = {}
    parents: dict[str, str] = {}
    for metrics_file in run_metric_files:
        folder = Path(metrics_file).parent
        record, info = read_json(folder / "metrics.json"), read_json(folder / "train_info.json")
        task, method, seed = record["task"], record["method"], record["seed"]
        group = f"{task}/{method}"
        if group not in parents:
            parents[group] = mirror.parent(group, {"study": study, "task": task, "method": method, "kind": "group"})
            if study_config:
                mirror.client.log_text(parents[group], study_config, "study_config.yaml")
        artifacts = [folder / name for name in RUN_FILES] + ([folder / "model"] if log_models else [])
        run_id, written = mirror.log_run(
            f"{group}/seed{seed}", fingerprint(folder, RUN_FILES),
            params={"task": task, "method": method, "base_method": info.get("base_method", method), "seed": seed,
                    "model": info.get("model"),
                    **flatten("", info.get("hyperparameters", {}))},
            metrics=step_metrics(folder / "train_log.jsonl") + final_metrics(record),
            tags={"study": study, "task": task, "method": method, "seed": str(seed), "rule": "train_student",
                  "kind": "seed", **version_tags(info.get("environment", {}))},
            artifacts=artifacts, parent_id=parents[group],
        )
        summary["runs"][f"{group}/seed{seed}"] = run_id
        summary["written" if written else "unchanged"] += 1
        seed_scores.setdefault(group, []).append(record["validation"][record["main_metric"]])
    for group, scores in seed_scores.items():  # the parent shows the seeds' mean and spread at a glance
        mean = sum(scores) / len(scores)
        std = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) ** 0.5 if len(scores) > 1 else 0.0
        mirror.set_metrics(parents[group], {"score_mean": mean, "score_std": std, "seeds": len(scores)})
    for metrics_file in teacher_metric_files:
        folder = Path(metrics_file).parent
        record = read_json(metrics_file)
        run_id, written = mirror.log_run(
            f"teacher/{record['task']}", fingerprint(folder, TEACHER_FILES),
            params={"task": record["task"], "model": record.get("model"), "seed": record["seed"],
                    **flatten("", record.get("hyperparameters", {}))},
            metrics=step_metrics(folder / "train_log.jsonl") + final_metrics(record),
            tags={"study": study, "task": record["task"], "method": "teacher", "rule": "train_teacher",
                  "kind": "teacher", **version_tags(record.get("environment", {}))},
            artifacts=[folder / name for name in TEACHER_FILES],
        )
        summary["runs"][f"teacher/{record['task']}"] = run_id
        summary["written" if written else "unchanged"] += 1
    return summary
