"""What a run's files become in MLflow: params, metrics with the time they were measured, tags, dataset inputs.

The live path (a training job logging as it goes) and the rebuild path (`mlflow_sync` reading results/) both use
these functions, so a run looks the same in the UI whichever path wrote it.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterable

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, SourceType
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE, MLFLOW_USER

RUN_FILES = ("metrics.json", "train_info.json", "train_log.jsonl", "predictions.tsv")
TEACHER_FILES = ("metrics.json", "train_log.jsonl")
TRIAL_FILES = ("heldout.json", "train_info.json", "train_log.jsonl")
# the step script behind each kind of run: MLflow's `mlflow.source.name`
STUDENT_SCRIPT, TEACHER_SCRIPT = "workflow_scripts/train_student.py", "workflow_scripts/train_teacher.py"
SOUP_SCRIPT = "workflow_scripts/make_soup.py"
STEP_KEYS = {"loss": "train_loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
             "phase": "phase", "anneal_t": "anneal_t"}  # the last two: Annealing-KD's phases
TIMING = ("_runtime", "_samples_per_second", "_steps_per_second")  # the Trainer's evaluation timings: not metrics
COMPUTE_METRICS = ("train_seconds", "optimizer_steps", "tokens", "train_flops", "peak_rss_mb")
SCORE_SPLITS = ("validation", "test", "validation_swa_mean", "test_swa_mean",  # SWAG: BMA and its mean model
                "trial_heldout")  # a tuning trial's final scores on the held-out training rows


def fingerprint(folder: Path, names: Iterable[str]) -> str:
    """A digest of a run's result files: equal digests mean MLflow already holds exactly this run."""
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


def record_metrics(record: dict[str, Any], step_offset: int = 0, now: float | None = None) -> list[Metric]:
    """The metrics of one training-log record (loss, LR, grad norm, held-out scores), stamped with its own time."""
    stamp = int(float(record.get("time", now if now is not None else time.time())) * 1000)
    step = int(record["step"]) + step_offset
    metrics = []
    for key, value in record.items():
        name = STEP_KEYS.get(key, key if key.startswith("heldout_") and not key.endswith(TIMING) else None)
        if name and isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics.append(Metric(name, float(value), stamp, step))
    return metrics


def step_metrics(train_log: Path) -> list[Metric]:
    """Every per-step metric of a train_log.jsonl (older logs without times get the file's modification time)."""
    if not train_log.is_file():
        return []
    written = train_log.stat().st_mtime
    return [metric for line in train_log.read_text().splitlines()
            for metric in record_metrics(json.loads(line), now=written)]


def final_metrics(record: dict[str, Any], compute: dict[str, Any], measured: float) -> list[Metric]:
    """Dev (and test) scores and what the run cost, stamped with the time the scores were written."""
    values = {f"{split}_{name}": value for split in SCORE_SPLITS
              for name, value in record.get(split, {}).items() if isinstance(value, (int, float))}
    values.update({k: compute[k] for k in COMPUTE_METRICS if isinstance(compute.get(k), (int, float))})
    return [Metric(k, float(v), int(measured * 1000), 0) for k, v in values.items()]


def version_tags(environment: dict[str, Any], script: str) -> dict[str, str]:
    """Library versions, and MLflow's own source tags (the commit, the step script that ran, the user), which the
    UI shows in its Source and User columns; `git_dirty` says whether the commit alone describes the code."""
    tags = {f"version.{k}": str(environment[k]) for k in ("torch", "transformers", "datasets", "python")
            if k in environment}
    tags.update({MLFLOW_SOURCE_NAME: script, MLFLOW_SOURCE_TYPE: SourceType.to_string(SourceType.LOCAL)})
    if "git_commit" in environment:
        tags["git_commit"] = tags[MLFLOW_GIT_COMMIT] = str(environment["git_commit"])
    if environment.get("git_dirty") is not None:
        tags["git_dirty"] = str(environment["git_dirty"]).lower()
    if "user" in environment:
        tags[MLFLOW_USER] = str(environment["user"])
    return tags


def dataset_inputs(task: str, data_info: dict[str, Any]) -> list[DatasetInput]:
    """The splits a run trained, selected and was scored on, as MLflow dataset inputs (name, source, digest, rows).

    Sources are MLflow's own kinds, so `mlflow.data.get_source` reads them back: a Hub dataset (or a folder in the
    Hub's layout) as "hugging_face" with what `datasets.load_dataset` was given, a file as "local" with its path.
    """
    contexts = {"train": "training", "heldout": "selection", "validation": "evaluation", "test": "test"}
    digest = hashlib.sha256(json.dumps(data_info, sort_keys=True).encode()).hexdigest()[:16]
    inputs = []
    for split, rows in data_info.get("rows", {}).items():
        origin = "train" if split == "heldout" else split
        hub = data_info.get("hub", {}).get(origin)
        if hub is not None:
            source_type, source = "hugging_face", {**hub, "data_dir": None, "data_files": None, "revision": None}
        else:
            source_type, source = "local", {"uri": data_info.get("sources", {}).get(origin, "")}
        dataset = Dataset(name=f"{task}-{split}", digest=digest, source_type=source_type, source=json.dumps(source),
                          profile=json.dumps({"num_rows": rows}))
        inputs.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", contexts.get(split, split))]))
    return inputs
