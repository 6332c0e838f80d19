"""`mlflow_sync`: make MLflow show exactly what results/ holds, writing only what is missing.

Each run's files are turned into the image it should have in MLflow (`RunImage`). A run whose recorded fingerprint
matches its files is left alone, so a second sync writes nothing. A run that live logging created for the same
training attempt is completed (params, metric steps, artifacts, datasets it lacks); anything else (an older attempt,
a lost store) is replaced by a run rebuilt from the files, with the times the files recorded.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from ..io import read_json
from .records import (RUN_FILES, SOUP_SCRIPT, STUDENT_SCRIPT, TEACHER_FILES, TEACHER_SCRIPT, TRIAL_FILES,
                      dataset_inputs, final_metrics, fingerprint, flatten, step_metrics, version_tags)
from .store import DATASET_RACE, ensure_parent, find_run, retrying


@dataclass
class RunImage:
    run_key: str
    fingerprint: str
    params: dict[str, Any]
    metrics: list[Metric]
    tags: dict[str, str]
    artifacts: list[Path]
    parent_key: str | None = None
    attempt: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    task: str = ""
    data_info: dict[str, Any] = field(default_factory=dict)


def student_image(folder: Path, study: str) -> RunImage:
    record, info = read_json(folder / "metrics.json"), read_json(folder / "train_info.json")
    task, method, seed = record["task"], record["method"], record["seed"]
    compute = info.get("compute", {})
    return RunImage(
        run_key=f"{task}/{method}/seed{seed}", fingerprint=fingerprint(folder, RUN_FILES),
        params={"task": task, "method": method, "base_method": info.get("base_method", method), "seed": seed,
                "model": info.get("model"), **flatten("", info.get("hyperparameters", {}))},
        metrics=step_metrics(folder / "train_log.jsonl")
        + final_metrics(record, compute, (folder / "metrics.json").stat().st_mtime),
        tags={"study": study, "task": task, "method": method, "seed": str(seed), "rule": "train_student",
              "kind": "seed",
              **version_tags(info.get("environment", {}), SOUP_SCRIPT if "soup" in info else STUDENT_SCRIPT)},
        artifacts=[folder / name for name in RUN_FILES],  # models: MLflow models of their own (registry.py)
        parent_key=f"{task}/{method}", attempt=info.get("attempt"),
        start_time=compute.get("finished_at", 0) - compute.get("train_seconds", 0) if compute.get("finished_at") else None,
        end_time=compute.get("finished_at"), task=task, data_info=info.get("data", {}),
    )


def trial_image(folder: Path, study: str) -> RunImage:
    """A tuning trial: a child of its (task, method) parent, tagged `kind: trial`, with its held-out scores."""
    scores, info = read_json(folder / "heldout.json"), read_json(folder / "train_info.json")
    task, method, trial = scores["task"], scores["method"], scores["trial"]
    compute = info.get("compute", {})
    measured = (folder / "heldout.json").stat().st_mtime
    return RunImage(
        run_key=f"{task}/{method}/trial{trial}", fingerprint=fingerprint(folder, TRIAL_FILES),
        params={"task": task, "method": method, "base_method": info.get("base_method", method),
                "seed": info["seed"], "trial": trial, "model": info.get("model"),
                **flatten("", info.get("hyperparameters", {}))},
        metrics=step_metrics(folder / "train_log.jsonl")
        + final_metrics({"trial_heldout": scores["heldout"]}, compute, measured),
        tags={"study": study, "task": task, "method": method, "seed": str(info["seed"]), "trial": str(trial),
              "rule": "train_trial", "kind": "trial",
              **version_tags(info.get("environment", {}), STUDENT_SCRIPT)},
        artifacts=[folder / name for name in TRIAL_FILES], parent_key=f"{task}/{method}",
        attempt=info.get("attempt"),
        start_time=compute.get("finished_at", 0) - compute.get("train_seconds", 0) if compute.get("finished_at") else None,
        end_time=compute.get("finished_at"), task=task, data_info=info.get("data", {}),
    )


def selection_tags(selected: dict[str, Any]) -> dict[str, str]:
    """What a parent run shows of its method's tuning: the winning trial and its setting."""
    tags = {"tuning.selected_trial": str(selected["trial"]), "tuning.trials": str(len(selected["trials"])),
            f"tuning.heldout_{selected['metric']}": f"{selected['heldout_score']:.6g}"}
    tags.update({f"tuning.{key}": str(value) for key, value in selected["setting"].items()})
    return tags


def teacher_image(folder: Path, study: str) -> RunImage:
    record = read_json(folder / "metrics.json")
    compute = record.get("compute", {})
    return RunImage(
        run_key=f"teacher/{record['task']}", fingerprint=fingerprint(folder, TEACHER_FILES),
        params={"task": record["task"], "model": record.get("model"), "seed": record["seed"],
                **flatten("", record.get("hyperparameters", {}))},
        metrics=step_metrics(folder / "train_log.jsonl")
        + final_metrics(record, compute, (folder / "metrics.json").stat().st_mtime),
        tags={"study": study, "task": record["task"], "method": "teacher", "rule": "train_teacher", "kind": "teacher",
              **version_tags(record.get("environment", {}), TEACHER_SCRIPT)},
        artifacts=[folder / name for name in TEACHER_FILES], attempt=record.get("attempt"),
        start_time=compute.get("finished_at", 0) - compute.get("train_seconds", 0) if compute.get("finished_at") else None,
        end_time=compute.get("finished_at"), task=record["task"], data_info=record.get("data", {}),
    )


def _log_artifacts(client: MlflowClient, run_id: str, paths: list[Path], present: set[str]) -> None:
    """Upload the run's files (again: a rerun may have changed them; uploads replace); a model folder once."""
    for path in paths:
        if path.is_dir() and path.name not in present:
            retrying(client.log_artifacts, run_id, str(path), path.name)
        elif path.is_file():
            retrying(client.log_artifact, run_id, str(path))


def _missing_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> list[Metric]:
    logged: set[tuple[str, int]] = set()
    for key in {m.key for m in metrics}:
        logged.update((key, m.step) for m in retrying(client.get_metric_history, run_id, key))
    return [m for m in metrics if (m.key, m.step) not in logged]


def mirror_run(client: MlflowClient, experiment: str, image: RunImage, parent_id: str | None) -> tuple[str, bool]:
    """Make MLflow hold `image`; return the run id and whether anything was written."""
    found = find_run(client, experiment, image.run_key)
    if found is not None and found.data.tags.get("fingerprint") == image.fingerprint:
        return found.info.run_id, False
    completing = found is not None and image.attempt is not None and found.data.tags.get("attempt") == image.attempt
    if completing:
        run_id = found.info.run_id
        params = {k: v for k, v in image.params.items() if k not in found.data.params}
        metrics = _missing_metrics(client, run_id, image.metrics)
        present = {a.path for a in retrying(client.list_artifacts, run_id)}
        has_inputs = bool(found.inputs and found.inputs.dataset_inputs)
    else:
        if found is not None:
            retrying(client.delete_run, found.info.run_id)
        tags = {"run_key": image.run_key, **({"attempt": image.attempt} if image.attempt else {})}
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        start = int((image.start_time or time.time()) * 1000)
        run_id = retrying(client.create_run, experiment, start_time=start, tags=tags, run_name=image.run_key).info.run_id
        params, metrics, present, has_inputs = image.params, image.metrics, set(), False
    param_list = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for start in range(0, len(param_list), 100):
        retrying(client.log_batch, run_id, params=param_list[start:start + 100])
    for start in range(0, len(metrics), 1000):
        retrying(client.log_batch, run_id, metrics=metrics[start:start + 1000])
    if image.data_info and not has_inputs:
        retrying(client.log_inputs, run_id, datasets=dataset_inputs(image.task, image.data_info),
                 also=DATASET_RACE)
    _log_artifacts(client, run_id, image.artifacts, present)
    for key, value in {**image.tags, "fingerprint": image.fingerprint}.items():
        retrying(client.set_tag, run_id, key, value)
    end = int(image.end_time * 1000) if image.end_time else None
    retrying(client.set_terminated, run_id, RunStatus.to_string(RunStatus.FINISHED), end_time=end)
    return run_id, True


def update_parent(client: MlflowClient, parent_id: str, children: list[RunImage], scores: list[float],
                  study_config: str, tags: dict[str, str] | None = None) -> None:
    """The parent of one (task, method) shows the seeds' mean and spread, the data they used, the setting its
    tuning chose (`tags`), and lasts until its last child (seed or trial) finished; each written only when it
    changes, so a second sync writes nothing."""
    mean = sum(scores) / len(scores)
    std = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) ** 0.5 if len(scores) > 1 else 0.0
    values = {"score_mean": mean, "score_std": std, "seeds": float(len(scores))}
    parent = retrying(client.get_run, parent_id)
    changed = [Metric(k, float(v), int(time.time() * 1000), 0) for k, v in values.items()
               if parent.data.metrics.get(k) != v]
    if changed:
        retrying(client.log_batch, parent_id, metrics=changed)
    if children[0].data_info and not (parent.inputs and parent.inputs.dataset_inputs):
        retrying(client.log_inputs, parent_id, also=DATASET_RACE,
                 datasets=dataset_inputs(children[0].task, children[0].data_info))
    ends = [child.end_time for child in children if child.end_time]
    if ends and (parent.info.end_time != int(max(ends) * 1000) or parent.info.status != "FINISHED"):
        retrying(client.set_terminated, parent_id, RunStatus.to_string(RunStatus.FINISHED), end_time=int(max(ends) * 1000))
    for key, value in (tags or {}).items():
        if parent.data.tags.get(key) != value:
            retrying(client.set_tag, parent_id, key, value)
    digest = hashlib.sha256(study_config.encode()).hexdigest()
    if study_config and parent.data.tags.get("study_config.sha256") != digest:  # uploaded again only when changed
        retrying(client.log_text, parent_id, study_config, "study_config.yaml")
        retrying(client.set_tag, parent_id, "study_config.sha256", digest)


def sync_study(client: MlflowClient, experiment: str, study: str, run_metric_files: list[str],
               teacher_metric_files: list[str], study_config: str = "",
               trial_files: list[str] = (), selected_files: list[str] = ()) -> dict[str, Any]:
    """Mirror every student run, tuning trial and teacher; return {run_key: run_id} and how many runs were written."""
    summary: dict[str, Any] = {"experiment_id": experiment, "runs": {}, "written": 0, "unchanged": 0}
    scores: dict[str, list[float]] = {}
    images: dict[str, list[RunImage]] = {}
    parents: dict[str, str] = {}
    for metrics_file in run_metric_files:
        image = student_image(Path(metrics_file).parent, study)
        task, method = image.tags["task"], image.tags["method"]
        if image.parent_key not in parents:
            parents[image.parent_key] = ensure_parent(client, experiment, image.parent_key,
                                                      {"study": study, "task": task, "method": method, "kind": "group"})
        run_id, written = mirror_run(client, experiment, image, parents[image.parent_key])
        summary["runs"][image.run_key] = run_id
        summary["written" if written else "unchanged"] += 1
        record = read_json(metrics_file)
        scores.setdefault(image.parent_key, []).append(record["validation"][record["main_metric"]])
        images.setdefault(image.parent_key, []).append(image)
    trials: dict[str, list[RunImage]] = {}
    for trial_file in trial_files:
        image = trial_image(Path(trial_file).parent, study)
        if image.parent_key not in parents:
            parents[image.parent_key] = ensure_parent(client, experiment, image.parent_key, {
                "study": study, "task": image.tags["task"], "method": image.tags["method"], "kind": "group"})
        run_id, written = mirror_run(client, experiment, image, parents[image.parent_key])
        summary["runs"][image.run_key] = run_id
        summary["written" if written else "unchanged"] += 1
        trials.setdefault(image.parent_key, []).append(image)
    chosen = {f"{s['task']}/{s['method']}": selection_tags(s) for s in map(read_json, selected_files)}
    for key, values in scores.items():
        update_parent(client, parents[key], images[key] + trials.get(key, []), values, study_config,
                      chosen.get(key))
    for metrics_file in teacher_metric_files:
        image = teacher_image(Path(metrics_file).parent, study)
        run_id, written = mirror_run(client, experiment, image, None)
        summary["runs"][image.run_key] = run_id
        summary["written" if written else "unchanged"] += 1
    return summary
