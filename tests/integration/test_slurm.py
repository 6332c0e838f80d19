"""Integration: the tiny study through a real SLURM with the shipped profile (`--profile profiles/slurm`).

The cluster is .ci/services/slurm.sh's: Debian's slurm-wlm 22.05 (slurmctld + slurmd, munge) as one node on loopback,
with accounting (slurmdbd on MariaDB), since the executor plugin polls job states with `sacct`. The same study and
seeds also run locally; both runs must score identically, and `sacct` must list every submitted job with the
resources the study's config asked for.
A job asking for 2 GPUs (2 GPUs that are only a count on this node) must run its script once, torchrun inside.
Run: pytest tests/integration -m slurm   (about 6 minutes on 2 cores)
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from test_pipeline import job_counts
from tiny_study import REPO, build_mirror, run_snakemake, tiny_config

pytestmark = pytest.mark.slurm

METHODS, SEEDS = ["swa", "kd"], [1, 2]  # SWA (the question) and KD (the teacher path)
# run by the submitting snakemake, never queued
LOCAL_RULES = {"aggregate", "calibration", "mlflow_sync", "trivial_baseline", "all"}
RESOURCES = {"train_threads": 1, "train_mem_mb": 1000, "train_runtime_min": 10,
             "eval_threads": 1, "eval_mem_mb": 800, "eval_runtime_min": 7, "data_mem_mb": 600, "data_runtime_min": 5}
EXPECTED_REQUEST = {  # rule: (memory, time limit) as sacct prints them
    "prepare_data": ("600M", "00:05:00"), "train_teacher": ("1000M", "00:10:00"),
    "teacher_logits": ("1000M", "00:10:00"), "train_student": ("1000M", "00:10:00"), "evaluate": ("800M", "00:07:00"),
}
# Fast polling for a study whose jobs take seconds; a real cluster keeps the plugin's defaults (40 s, then longer).
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
                "--slurm-keep-successful-logs"]


def scores(results: Path) -> dict[str, dict]:
    """Every run's and teacher's dev/test scores, keyed by the metrics file's path under results/."""
    found = {}
    for path in sorted(results.glob("**/metrics.json")):
        record = json.loads(path.read_text())
        found[str(path.relative_to(results))] = {split: record.get(split) for split in ("validation", "test")}
    return found


def outputs(results: Path) -> set[str]:
    """The files a study leaves in results/, without the logs and timings that differ between runs."""
    return {str(p.relative_to(results)) for p in results.rglob("*")
            if p.is_file() and not str(p.relative_to(results)).startswith(("logs/", "benchmarks/"))}


@pytest.fixture(scope="module")
def studies(tmp_path_factory, slurm_cluster):
    root = tmp_path_factory.mktemp("slurm")
    mirror = build_mirror(root / "mirror")
    config = tiny_config(mirror, tasks=["sst2"], methods=METHODS, seeds=SEEDS, resources=RESOURCES)
    config["analysis"] = {"enabled": False}  # tests/test_evidence.py covers it; here every job is a SLURM job
    local, cluster = root / "local", root / "cluster"
    local.mkdir()
    cluster.mkdir()
    local_run = run_snakemake(local, config)
    assert local_run.returncode == 0, local_run.stderr[-3000:]
    cluster_run = run_snakemake(cluster, config, "--profile", str(REPO / "profiles" / "slurm"), *FAST_POLLING,
                                env=slurm_cluster)
    assert cluster_run.returncode == 0, cluster_run.stderr[-5000:]
    return local, cluster, local_run, cluster_run


def sacct_jobs(run_id: str, env: dict[str, str]) -> pd.DataFrame:
    """The accounting records of one Snakemake run's SLURM jobs (the plugin names every job after the run's id)."""
    command = ["sacct", "-X", "--parsable2", "--noheader", "--starttime", "now-1days", "--name", run_id,
               "--format=JobIDRaw,JobName,State,ExitCode,Comment,ReqMem,Timelimit,AllocCPUS,NodeList"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line]
    return pd.DataFrame(rows, columns=["id", "name", "state", "exit", "comment", "mem", "time", "cpus", "node"])


def test_the_study_finishes_through_slurm_with_every_output(studies):
    local, cluster, local_run, cluster_run = studies
    assert "SLURM run ID" in cluster_run.stderr  # the executor plugin, not local execution, ran the jobs
    assert job_counts(cluster_run.stderr) == job_counts(local_run.stderr) == {
        "prepare_data": 2, "train_teacher": 1, "teacher_logits": 1, "train_student": 4, "evaluate": 4,
        "aggregate": 1, "calibration": 1, "plot_task": 1, "trivial_baseline": 1, "mlflow_sync": 1, "all": 1}
    assert outputs(cluster / "results") == outputs(local / "results")
    for method in METHODS:
        for seed in SEEDS:
            assert (cluster / "results" / "runs" / "sst2" / method / f"seed{seed}" / "model" / "model.safetensors").is_file()
    assert (cluster / "results" / "mlflow_sync.json").is_file()


def test_slurm_runs_score_exactly_as_local_runs_of_the_same_seeds(studies):
    local, cluster, _, _ = studies
    local_scores, cluster_scores = scores(local / "results"), scores(cluster / "results")
    assert len(local_scores) == len(METHODS) * len(SEEDS) + 2  # every run, the teacher and the trivial baseline
    assert "baseline/sst2/metrics.json" in local_scores
    assert cluster_scores == local_scores
    varies = ["train_seconds", "peak_rss_mb"]  # the machine's, not the study's
    summary = [pd.read_csv(folder / "results" / "tables" / "runs.csv").drop(columns=varies, errors="ignore")
               for folder in (local, cluster)]
    pd.testing.assert_frame_equal(summary[0], summary[1])


def test_sacct_lists_every_job_with_the_resources_from_config(studies, slurm_cluster):
    _, _, local_run, cluster_run = studies
    run_id = re.search(r"SLURM run ID: (\S+)", cluster_run.stderr).group(1)
    jobs = sacct_jobs(run_id, slurm_cluster)
    queued = {rule: n for rule, n in job_counts(local_run.stderr).items() if rule not in LOCAL_RULES}
    assert len(jobs) == sum(queued.values())
    assert set(jobs.state) == {"COMPLETED"} and set(jobs["exit"]) == {"0:0"}
    jobs["rule"] = jobs.comment.str.extract(r"^rule_(\w+?)(?:_wildcards_.*)?$", expand=False)
    assert jobs.rule.value_counts().to_dict() == queued
    for rule, (mem, time_limit) in EXPECTED_REQUEST.items():
        asked = jobs[jobs.rule == rule]
        assert set(asked.mem) == {mem} and set(asked.time) == {time_limit}, asked
        assert set(asked.cpus) == {"1"}


def test_a_job_asking_for_two_gpus_runs_its_script_once_and_torchrun_starts_both_ranks(tmp_path, slurm_cluster):
    """config/paper.yaml's training jobs ask for 2 GPUs and run 2 torchrun ranks inside. The cluster's node has 2
    GPUs that are only a count (.ci/services/slurm.sh), so the job is scheduled as on a GPU node and trains on the
    CPU; SLURM's accounting must show the job holding both GPUs and its script's step running as one task."""
    mirror = build_mirror(tmp_path / "mirror")
    resources = {**RESOURCES, "train_threads": 2, "train_processes": 2, "gpus": 2, "gpu_request": "gres"}
    config = tiny_config(mirror, tasks=["sst2"], methods=["finetune"], seeds=[1], resources=resources,
                         analysis={"enabled": False}, tracking={"enabled": False})
    (tmp_path / "study").mkdir()
    result = run_snakemake(tmp_path / "study", config, "--profile", str(REPO / "profiles" / "slurm"), *FAST_POLLING,
                           env=slurm_cluster)
    assert result.returncode == 0, result.stderr[-5000:]
    run_id = re.search(r"SLURM run ID: (\S+)", result.stderr).group(1)
    jobs = sacct_jobs(run_id, slurm_cluster)
    [job] = jobs[jobs.comment.str.startswith("rule_train_student")].id
    command = ["sacct", "-j", job, "--parsable2", "--noheader", "--format=JobID,NTasks,AllocTRES"]
    steps = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **slurm_cluster}, check=True)
    rows = {line.split("|")[0]: line.split("|")[1:] for line in steps.stdout.splitlines() if line}
    assert "gres/gpu=2" in rows[job][1], rows  # the job holds both GPUs
    script_steps = {step: tasks for step, (tasks, _) in rows.items() if re.fullmatch(rf"{job}\.\d+", step)}
    assert script_steps == {f"{job}.0": "1"}, rows  # one step, one task: the script started once
    assert (tmp_path / "study" / "results" / "runs" / "sst2" / "finetune" / "seed1" / "metrics.json").is_file()
