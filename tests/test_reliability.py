"""Reliability end to end, with the real Snakefile: a SIGKILLed training job resumes and ends exactly where an
uninterrupted one does; runs are deterministic; one results_dir takes one snakemake at a time; a study whose
tracking server is down still finishes, and the next run copies everything into the server once it is up.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tiny_study import SNAKEMAKE, REPO, build_mirror, build_model, run_snakemake, tiny_config

METHODS = ["finetune", "swa", "kd"]


def config_for(mirror, **changes):
    """SST-2 only; a wider tiny student and 320 steps, so that a kill can land between two checkpoints."""
    config = tiny_config(mirror, tasks=["sst2"], methods=METHODS, seeds=[1, 2],
                         models={"teacher": "tiny-teacher", "student": "wide-student"},
                         student={"epochs": 20, "batch_size": 3, "learning_rate": 1e-3, "logging_steps": 4},
                         checkpoints={"every_steps": 16}, analysis={"enabled": False})  # flatness: test_evidence.py
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The study, never interrupted: seeds 1 and 2."""
    workdir = tmp_path_factory.mktemp("reference")
    mirror = build_mirror(workdir / "mirror")
    build_model(mirror / "models" / "wide-student", layers=2, seed=1, hidden=96)
    config = config_for(mirror)
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, mirror


def run_file(workdir, method, seed, name="metrics.json"):
    return workdir / "results" / "runs" / "sst2" / method / f"seed{seed}" / name


def start_snakemake(workdir, config, *args):
    (workdir / "config.yaml").write_text(json.dumps(config))
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", "1", *args]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(predicate, timeout=300.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError("timed out")


def test_a_killed_training_job_resumes_and_ends_exactly_like_an_uninterrupted_one(reference, tmp_path):
    ref_dir, mirror = reference
    config = config_for(mirror, seeds=[1])
    # swa (its averaged weights, a torn checkpoint) and kd (the teacher's logits); fine-tuning's resume is theirs
    # without those, and every method's resume is checked in-process at and between epochs (test_resume.py)
    for method in ["swa", "kd"]:
        target = str(run_file(tmp_path, method, 1).relative_to(tmp_path))
        process = start_snakemake(tmp_path, config, target)
        checkpoints = run_file(tmp_path, method, 1, "checkpoints")
        needed = 2 if method == "swa" else 1  # swa: one to tear and one to fall back to
        wait_for(lambda: len(list(checkpoints.glob("checkpoint-*/complete.json"))) >= needed)
        os.killpg(process.pid, signal.SIGKILL)  # the whole tree: snakemake and the training job
        process.wait()
        assert not run_file(tmp_path, method, 1, "train_info.json").exists()
        if method == "swa":  # and the newest checkpoint was torn: the one before it is used, with one warning
            newest = max(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
            weights = newest / "model.safetensors"
            weights.write_bytes(weights.read_bytes()[:100])
        assert run_snakemake(tmp_path, config, "--unlock").returncode == 0  # Snakemake's own lock outlives a kill
        result = run_snakemake(tmp_path, config, "--rerun-incomplete", target)
        assert result.returncode == 0, result.stderr[-3000:]
        info = json.loads(run_file(tmp_path, method, 1, "train_info.json").read_text())
        assert (info["compute"]["resumed_from_step"] or 0) >= 16, (method, result.stderr[-3000:])  # not from scratch
        assert run_file(tmp_path, method, 1).read_bytes() == run_file(ref_dir, method, 1).read_bytes()
        assert not checkpoints.exists()  # removed once the run's outputs exist
        if method == "swa":
            torn = newest.relative_to(tmp_path)  # paths as the rules name them: relative to the working directory
            assert f"warning: {torn}: model.safetensors does not match its recorded checksum" in result.stderr


def test_a_second_snakemake_on_the_same_results_dir_is_refused(reference, tmp_path):
    _, mirror = reference
    results = tmp_path / "shared-results"  # absolute: Snakemake's own lock covers only its working directory
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    config = config_for(mirror, seeds=[1], methods=["finetune"], results_dir=str(results))
    process = start_snakemake(first_dir, config)
    try:
        lock = results / ".snakemake-study.lock"
        wait_for(lambda: lock.is_file() and "pid" in lock.read_text())
        second = run_snakemake(second_dir, config)
        assert process.poll() is None, "the first snakemake finished before the second one was tried"
        assert second.returncode != 0
        assert f"error: {results}: results_dir is in use by another snakemake (pid {process.pid}" in second.stderr
        assert not (second_dir / ".snakemake" / "log").exists() or "rule train_student" not in second.stderr
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_same_seed_gives_byte_identical_metrics_and_another_seed_does_not(reference, tmp_path):
    ref_dir, mirror = reference
    # without checkpoints, finetune and swa retrained from scratch (kd's runs repeat the reference's bytes after a
    # kill and a resume: test_a_killed_training_job_resumes...; no teacher to train again here)
    retrained = ["finetune", "swa"]
    result = run_snakemake(tmp_path, config_for(mirror, seeds=[1], methods=retrained, checkpoints={"every_steps": 0}))
    assert result.returncode == 0, result.stderr[-3000:]
    for method in METHODS:
        if method in retrained:
            assert run_file(tmp_path, method, 1).read_bytes() == run_file(ref_dir, method, 1).read_bytes()
        assert run_file(ref_dir, method, 1).read_bytes() != run_file(ref_dir, method, 2).read_bytes()
        metrics = json.loads(run_file(ref_dir, method, 2).read_text())
        assert metrics["seed"] == 2 and set(metrics) == {"task", "method", "base_method", "seed", "main_metric",
                                                         "validation", "reliability"}  # scores only: no compute


def test_a_killed_rerun_never_leaves_an_old_score_on_show(reference, tmp_path):
    ref_dir, mirror = reference
    config = config_for(mirror, seeds=[1], methods=["finetune"])
    assert run_snakemake(tmp_path, config).returncode == 0
    process = start_snakemake(tmp_path, config, "-R", "train_student")
    checkpoints = run_file(tmp_path, "finetune", 1, "checkpoints")
    wait_for(lambda: checkpoints.is_dir())
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "results" / "tables" / "summary.csv").exists()  # no table shows the run being redone
    assert not run_file(tmp_path, "finetune", 1).exists()
    assert run_snakemake(tmp_path, config, "--unlock").returncode == 0
    result = run_snakemake(tmp_path, config)  # a plain rerun, no flag needed: the run is retrained, then reported
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_student" in result.stderr and (tmp_path / "results" / "tables" / "summary.csv").exists()
    assert run_file(tmp_path, "finetune", 1).read_bytes() == run_file(ref_dir, "finetune", 1).read_bytes()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_tracking_server_that_is_down_never_fails_the_study_and_gets_everything_later(reference, tmp_path):
    _, mirror = reference
    port = free_port()
    config = config_for(mirror, seeds=[1], methods=["finetune", "kd"],
                        tracking={"enabled": True, "uri": f"http://127.0.0.1:{port}"})
    config["student"]["epochs"] = 3  # 48 steps, 12 logged losses: no kill to land between checkpoints here
    result = run_snakemake(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: MLflow tracking at")]
    assert warnings and all(f"http://127.0.0.1:{port}" in line for line in warnings)
    assert json.loads((tmp_path / "results" / "mlflow_sync.json").read_text())["status"] == "pending"
    assert run_file(tmp_path, "kd", 1).is_file()  # every result was written
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db", "--artifacts-destination", str(tmp_path / "art")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = MlflowClient(f"http://127.0.0.1:{port}")
        wait_for(lambda: _answers(client), timeout=120, interval=0.5)
        result = run_snakemake(tmp_path, config)  # the next run retries the tracking steps, nothing else
        assert result.returncode == 0, result.stderr[-3000:]
        assert "train_student" not in result.stderr
        experiment = client.get_experiment_by_name("tiny")
        runs = client.search_runs([experiment.experiment_id])
        keys = {r.data.tags["run_key"] for r in runs}
        assert keys == {"sst2/finetune", "sst2/kd", "sst2/finetune/seed1", "sst2/kd/seed1", "teacher/sst2"}
        child = next(r for r in runs if r.data.tags["run_key"] == "sst2/kd/seed1")
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) >= 10
        assert {a.path for a in client.list_artifacts(child.info.run_id)} >= {"metrics.json", "train_log.jsonl"}
        assert json.loads((tmp_path / "results" / "mlflow_sync.json").read_text())["status"] == "complete"
        config["methods"] = ["finetune", "kd", "swa"]  # a new parent run to prepare: the new runs train all the same
        result = run_snakemake(tmp_path, config)
        assert result.returncode == 0, result.stderr[-3000:]
        assert run_file(tmp_path, "swa", 1).is_file(), result.stderr[-3000:]
        keys = {r.data.tags["run_key"] for r in client.search_runs([experiment.experiment_id])}
        assert {"sst2/swa", "sst2/swa/seed1"} <= keys
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def _answers(client) -> bool:
    try:
        client.search_experiments()
        return True
    except Exception:  # noqa: BLE001  (still starting)
        return False
