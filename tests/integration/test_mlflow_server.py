"""Integration: the tiny study mirrored into the team set-up, a PostgreSQL-backed `mlflow server` on loopback whose
artifacts are proxied into its --artifacts-destination (.ci/services/postgres-mlflow.sh).

Every run (children under their (task, method) parents, the teacher) must arrive with its parameters, final and
per-step metrics and artifacts, byte for byte; the artifacts must land in the server's destination, not in the
study's folder; and a second sync must write nothing: the same rows in PostgreSQL, the same artifact files.
Run: pytest tests/integration -m mlflow_server   (about 2 minutes on 2 cores)
"""
import json
import time
from pathlib import Path

import mlflow
import pytest
import sqlalchemy
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from swa_study.tracking.records import RUN_FILES, STEP_KEYS, TEACHER_FILES, flatten
from test_pipeline import job_counts
from tiny_study import build_mirror, run_snakemake, tiny_config

pytestmark = pytest.mark.mlflow_server

METHODS, SEEDS = ["swa", "kd"], [1, 2]  # SWA (the question) and KD (the teacher path)
TABLES = ["runs", "params", "metrics", "latest_metrics", "tags"]  # MLflow's tables in PostgreSQL
EVIDENCE_PLOTS = ["scores.png", "scores.svg", "training.png", "compute.png"]  # rules/common.smk TASK_PLOTS
EVIDENCE_TABLES = ["summary.md", "significance.csv", "compute.csv"]  # attached to every parent


@pytest.fixture(scope="module")
def synced(tmp_path_factory, mlflow_server):
    workdir = tmp_path_factory.mktemp("server")
    study = f"tiny-server-{time.time_ns()}"  # the server outlives a test session: one fresh experiment per run
    config = tiny_config(build_mirror(workdir / "mirror"), study=study, tasks=["sst2"], methods=METHODS, seeds=SEEDS,
                         tracking={"enabled": True, "uri": mlflow_server["MLFLOW_TRACKING_URI"]})
    config["analysis"] = {"enabled": False}  # tests/test_evidence.py covers the flatness artifacts
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(tracking_uri=mlflow_server["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(study)
    assert experiment is not None
    return workdir, config, client, experiment


def all_runs(client, experiment):
    return client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000)


def store_rows(store_uri: str, experiment_id: str) -> dict[str, list]:
    """Every row of the experiment's runs, params, metrics and tags in PostgreSQL, read straight from the store."""
    engine = sqlalchemy.create_engine(store_uri)
    rows = {}
    with engine.connect() as db:
        ids = [r[0] for r in db.execute(sqlalchemy.text("SELECT run_uuid FROM runs WHERE experiment_id = :e"),
                                        {"e": int(experiment_id)})]
        for table in TABLES:
            query = sqlalchemy.text(f"SELECT * FROM {table} WHERE run_uuid = ANY(:ids)")
            rows[table] = sorted(tuple(map(str, row)) for row in db.execute(query, {"ids": ids}))
    engine.dispose()
    return rows


def artifact_files(root: Path, experiment_id: str) -> dict[str, int]:
    """The files the server stored for the experiment, with their modification times."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in (root / experiment_id).rglob("*") if p.is_file()}


def expected_steps(train_log: Path, key: str) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in train_log.read_text().splitlines()]
    return [(r["step"], float(r[key])) for r in records if isinstance(r.get(key), (int, float))]


def test_every_run_arrives_under_its_parent_with_params_metrics_and_artifacts(synced, mlflow_server, tmp_path):
    workdir, config, client, experiment = synced
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # proxied through the server
    runs = all_runs(client, experiment)
    children = [r for r in runs if r.data.tags.get("kind") == "seed"]
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("kind") == "group"}
    teachers = [r for r in runs if r.data.tags.get("kind") == "teacher"]
    assert len(runs) == len(children) + len(parents) + len(teachers)
    assert sorted(r.data.tags["run_key"] for r in children) == sorted(
        f"sst2/{m}/seed{s}" for m in METHODS for s in SEEDS)
    assert sorted(r.data.tags["run_key"] for r in parents.values()) == sorted(f"sst2/{m}" for m in METHODS)
    assert [r.data.tags["run_key"] for r in teachers] == ["teacher/sst2"]
    assert all(r.info.lifecycle_stage == "active" and r.info.status == "FINISHED" for r in runs)
    destination = Path(mlflow_server["SWA_MLFLOW_ARTIFACTS"])
    for child in children:
        folder = workdir / "results" / "runs" / "sst2" / child.data.tags["method"] / f"seed{child.data.tags['seed']}"
        parent = parents[child.data.tags["mlflow.parentRunId"]]
        assert parent.data.tags["run_key"] == f"sst2/{child.data.tags['method']}"
        info, record = (json.loads((folder / name).read_text()) for name in ("train_info.json", "metrics.json"))
        expected = {k: str(v) for k, v in flatten("", info["hyperparameters"]).items()}
        assert {k: v for k, v in child.data.params.items() if k in expected} == expected
        for name, value in record["validation"].items():
            assert child.data.metrics[f"validation_{name}"] == pytest.approx(value, rel=1e-12)
        for key, metric in STEP_KEYS.items():
            steps = expected_steps(folder / "train_log.jsonl", key)
            history = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, metric))
            assert history == steps, metric
        assert len(expected_steps(folder / "train_log.jsonl", "loss")) >= 3
        assert {a.path for a in client.list_artifacts(child.info.run_id)} == set(RUN_FILES)
        for name in RUN_FILES:  # byte for byte through the server, and stored in its destination
            downloaded = mlflow.artifacts.download_artifacts(run_id=child.info.run_id, artifact_path=name,
                                                             dst_path=str(tmp_path / child.info.run_id),
                                                             tracking_uri=mlflow_server["MLFLOW_TRACKING_URI"])
            assert Path(downloaded).read_bytes() == (folder / name).read_bytes()
            stored = destination / experiment.experiment_id / child.info.run_id / "artifacts" / name
            assert stored.read_bytes() == (folder / name).read_bytes()
    for parent in parents.values():
        seeds = [json.loads((workdir / "results" / "runs" / "sst2" / parent.data.tags["method"] / f"seed{s}" /
                             "metrics.json").read_text()) for s in SEEDS]
        scores = [s["validation"][s["main_metric"]] for s in seeds]
        assert parent.data.metrics["score_mean"] == pytest.approx(sum(scores) / len(scores))
        assert parent.data.metrics["seeds"] == len(SEEDS)
        assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"study_config.yaml", "plots", "tables"}
    teacher, folder = teachers[0], workdir / "results" / "teacher" / "sst2"
    record = json.loads((folder / "metrics.json").read_text())
    assert teacher.data.params["seed"] == str(record["seed"]) and "mlflow.parentRunId" not in teacher.data.tags
    assert {a.path for a in client.list_artifacts(teacher.info.run_id)} == set(TEACHER_FILES)
    assert len(client.get_metric_history(teacher.info.run_id, "train_loss")) == len(
        expected_steps(folder / "train_log.jsonl", "loss"))
    assert not (workdir / "mlartifacts").exists() and not (workdir / "mlruns").exists()  # nothing stored locally


def test_a_second_sync_writes_nothing(synced, mlflow_server):
    workdir, config, client, experiment = synced
    store, destination = mlflow_server["SWA_MLFLOW_STORE"], Path(mlflow_server["SWA_MLFLOW_ARTIFACTS"])
    before_rows = store_rows(store, experiment.experiment_id)
    before_files = artifact_files(destination, experiment.experiment_id)
    assert len(before_rows["runs"]) == len(METHODS) * len(SEEDS) + len(METHODS) + 1
    per_parent = 1 + len(EVIDENCE_PLOTS) + len(EVIDENCE_TABLES)  # study_config.yaml, the task's plots, the tables
    assert len(before_files) == len(METHODS) * len(SEEDS) * len(RUN_FILES) + len(METHODS) * per_parent + len(
        TEACHER_FILES)
    result = run_snakemake(workdir, config, "-R", "mlflow_sync")
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stderr) == {"mlflow_sync": 1, "all": 1}
    summary = json.loads((workdir / "results" / "mlflow_sync.json").read_text())
    assert (summary["written"], summary["unchanged"]) == (0, len(METHODS) * len(SEEDS) + 1)
    assert store_rows(store, experiment.experiment_id) == before_rows
    assert artifact_files(destination, experiment.experiment_id) == before_files
