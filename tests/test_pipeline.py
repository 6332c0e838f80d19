"""End-to-end: the real Snakefile on a tiny offline study (random-init BERTs, a few dozen rows per task).

One study is built per module and then probed in order: outputs, the MLflow mirror, a no-op rerun, a forced rerun
that reproduces its metrics, and an edited hyper-parameter that reruns only its method.
"""
import getpass
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tiny_study import REPO, build_mirror, run_snakemake, tiny_config

TASKS, SEEDS = ["sst2", "stsb"], {"sst2": [1, 2], "stsb": [1]}  # stsb's second seed would test nothing new
METHODS = ["finetune", "swa", "kd", "annealing_kd", "rail_kd", "mate_kd", "swa_kd"]
TEACHER_METHODS = ["kd", "annealing_kd", "rail_kd", "mate_kd", "swa_kd"]  # rerun when the teacher changes
RUNS = len(METHODS) * sum(len(seeds) for seeds in SEEDS.values())
STEPS = {"annealing_kd": 18}  # 48 rows / batch 8 x (2 + 1 phase epochs); the others 12


def is_commit(sha: str) -> bool:
    """A commit of this repository (full hash)."""
    return len(sha) == 40 and subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=REPO).returncode == 0


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before running: {rule: count}."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("study")
    mirror = build_mirror(workdir / "mirror")
    config = tiny_config(mirror, seeds=SEEDS["sst2"], seeds_by_task={"stsb": SEEDS["stsb"]})
    # flatness has its own end-to-end tests (test_evidence.py; an edited variant reruns only its analysis:
    # test_pipeline_grid.py); here 28 runs would pay for 28 analyses nobody reads
    config["analysis"] = {"enabled": False}
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def mlflow_runs(workdir):
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def test_every_run_and_table_is_written(study):
    workdir, _, result = study
    assert job_counts(result.stderr) == {"prepare_data": 4, "train_teacher": 2, "teacher_logits": 2,
                                         "train_student": RUNS, "evaluate": RUNS, "aggregate": 1, "calibration": 1,
                                         "mlflow_sync": 1, "plot_task": 2, "trivial_baseline": 2, "all": 1}
    for task in TASKS:
        for method in METHODS:
            for seed in SEEDS[task]:
                run = workdir / "results" / "runs" / task / method / f"seed{seed}"
                metrics = json.loads((run / "metrics.json").read_text())
                assert metrics["main_metric"] in metrics["validation"] and "compute" not in metrics  # scores only
                info = json.loads((run / "train_info.json").read_text())
                assert info["compute"]["optimizer_steps"] == STEPS.get(method, 12)  # 48 rows / batch 8 x 2 epochs
                assert (run / "model" / "model.safetensors").is_file()
                predictions = pd.read_csv(run / "predictions.tsv", sep="\t")
                assert set(predictions.split) == ({"validation", "test"} if task == "stsb" else {"validation"})
                assert len(predictions[predictions.split == "validation"]) == 24
                if task == "stsb":  # trained on score / 5, reported on the 0..5 scale
                    assert predictions.label.max() == 5.0
    summary = pd.read_csv(workdir / "results" / "tables" / "summary.csv")
    assert list(summary.method) == ["trivial (majority / mean)", *METHODS]  # the floor first
    assert list(summary.sst2_n[1:]) == [2] * len(METHODS) and summary.avg_mean.notna().all()
    markdown = (workdir / "results" / "tables" / "summary.md").read_text()
    assert "| swa |" in markdown and "±" in markdown and "sst2 (accuracy)" in markdown
    assert (workdir / "results" / "plots" / "summary.png").stat().st_size > 1000
    info = json.loads((workdir / "results" / "runs" / "sst2" / "swa" / "seed1" / "train_info.json").read_text())
    assert info["compute"]["swa_collected_steps"] == [6, 8, 10, 12]


def test_mlflow_has_one_child_run_per_task_method_seed_under_a_parent(study):
    workdir, _, _ = study
    client, runs = mlflow_runs(workdir)
    children = [r for r in runs if r.data.tags.get("kind") == "seed"]
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("kind") == "group"}
    assert len(children) == RUNS
    assert len(parents) == len(TASKS) * len(METHODS)
    assert sorted(r.data.tags["run_key"] for r in runs if r.data.tags.get("kind") == "teacher") == ["teacher/sst2", "teacher/stsb"]
    assert {r.data.tags["mlflow.source.name"] for r in runs if r.data.tags.get("kind") == "teacher"} == {
        "workflow_scripts/train_teacher.py"}
    for child in children:
        parent = parents[child.data.tags["mlflow.parentRunId"]]
        assert parent.data.tags["run_key"] == f"{child.data.tags['task']}/{child.data.tags['method']}"
        assert parent.info.status == "FINISHED" and parent.info.start_time <= child.info.start_time  # spans its
        assert parent.info.end_time >= child.info.end_time - 2000  # seeds (ends at the last one's training end)
        assert "learning_rate" in child.data.params and child.data.params["seed"] == child.data.tags["seed"]
        assert any(key.startswith("validation_") for key in child.data.metrics)
        assert "version.torch" in child.data.tags
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on the runs
    for child in children:  # live runs: real start/end times, the data they used, one attempt each
        info = json.loads((workdir / "results" / "runs" / child.data.tags["task"] / child.data.tags["method"]
                           / f"seed{child.data.tags['seed']}" / "train_info.json").read_text())
        assert child.data.tags["attempt"] == info["attempt"]
        tags = child.data.tags  # MLflow's own source tags: the UI's Source, Version and User columns
        assert tags["mlflow.source.name"] == "workflow_scripts/train_student.py" and tags["mlflow.source.type"] == "LOCAL"
        assert tags["mlflow.source.git.commit"] == info["environment"]["git_commit"]  # the code the job ran:
        assert is_commit(tags["mlflow.source.git.commit"]) and tags["git_dirty"] in ("true", "false")  # in the repo
        assert tags["mlflow.user"] == getpass.getuser()
        assert child.info.end_time - child.info.start_time >= 1000 * info["compute"]["train_seconds"] * 0.9
        contexts = {i.tags[0].value for i in child.inputs.dataset_inputs}
        assert contexts == {"training", "selection", "evaluation"} | ({"test"} if child.data.tags["task"] == "stsb" else set())
    child = children[0]
    assert len(client.get_metric_history(child.info.run_id, "train_loss")) >= 3
    assert len(client.get_metric_history(child.info.run_id, "learning_rate")) >= 3
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert {"metrics.json", "predictions.tsv", "train_info.json", "train_log.jsonl"} <= artifacts
    parent = next(iter(parents.values()))
    assert {"score_mean", "score_std"} <= set(parent.data.metrics)
    assert "study_config.yaml" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_the_mlflow_ui_shows_the_runs_their_durations_and_data_to_a_new_user(study):
    """What a user sees in a browser: the runs table (not the GenAI traces page), real durations, the datasets."""
    from browser import mlflow_ui, page_text

    workdir, _, _ = study
    with mlflow_ui(workdir) as url:
        experiment = MlflowClient(f"sqlite:///{workdir}/mlflow.db").get_experiment_by_name("tiny").experiment_id
        # the link the pipeline prints (make ui, mlflow_sync.json): the experiment's runs in model-training mode
        link = json.loads((workdir / "results" / "mlflow_sync.json").read_text())["ui_path"]
        assert link == f"#/experiments/{experiment}?workflowType=machine_learning"
        _, text = page_text(f"{url}/{link}")
    assert "Run Name" in text and "Duration" in text and "No data available" not in text  # the runs table
    for task in TASKS:
        for method in METHODS:
            assert f"{task}/{method}" in text  # every (task, method) parent row
    assert not re.search(r"\b\d+ms\b", text), "a run lasting milliseconds: start/end times were not the real ones"
    assert text.count("sst2-train") >= len(METHODS) and text.count("stsb-train") >= len(METHODS)  # Dataset column


def test_second_invocation_runs_nothing(study):
    workdir, config, _ = study
    result = run_snakemake(workdir, config)
    assert result.returncode == 0 and "Nothing to be done" in result.stderr


def test_forced_rerun_reproduces_the_same_metrics(study):
    workdir, config, _ = study
    runs = [workdir / "results" / "runs" / "stsb" / "swa" / "seed1", workdir / "results" / "runs" / "sst2" / "mate_kd" / "seed1"]
    before = [json.loads((run / "metrics.json").read_text()) for run in runs]
    targets = [str(run.relative_to(workdir) / "metrics.json") for run in runs]
    forced = [str(run.relative_to(workdir) / "train_info.json") for run in runs]
    result = run_snakemake(workdir, config, "--forcerun", *forced, "--", *targets)
    assert result.returncode == 0, result.stderr[-2000:]
    assert job_counts(result.stderr) == {"train_student": 2, "evaluate": 2}
    for run, old in zip(runs, before):
        new = json.loads((run / "metrics.json").read_text())
        assert new["validation"] == old["validation"] and new.get("test") == old.get("test")
    plan = run_snakemake(workdir, config, "-n", "-R", "train_teacher")
    planned = job_counts(plan.stdout + plan.stderr)  # snakemake 9.27 prints a dry run's plan on stdout
    assert planned["train_teacher"] == 2
    assert planned["train_student"] == len(TEACHER_METHODS) * sum(len(seeds) for seeds in SEEDS.values())  # KD


def test_editing_one_methods_parameter_reruns_only_that_method(study):
    workdir, config, _ = study
    result = run_snakemake(workdir, config)  # settle what the forced rerun left (aggregate, mirror)
    assert result.returncode == 0, result.stderr[-2000:]
    untouched = workdir / "results" / "runs" / "sst2" / "finetune" / "seed1" / "train_info.json"
    edited = workdir / "results" / "runs" / "sst2" / "kd" / "seed1" / "train_info.json"
    stamps = untouched.stat().st_mtime_ns, edited.stat().st_mtime_ns
    config["method_params"]["kd"]["alpha"] = 0.9
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-2000:]
    kd_runs = sum(len(seeds) for seeds in SEEDS.values())
    assert job_counts(result.stderr) == {"train_student": kd_runs, "evaluate": kd_runs, "aggregate": 1,
                                         "calibration": 1, "mlflow_sync": 1, "all": 1, "plot_task": 2}
    assert json.loads((workdir / "results" / "mlflow_sync.json").read_text())["written"] == kd_runs  # only kd's
    assert untouched.stat().st_mtime_ns == stamps[0] and edited.stat().st_mtime_ns != stamps[1]
    _, runs = mlflow_runs(workdir)
    children = [r for r in runs if r.data.tags.get("kind") == "seed"]
    assert len(children) == RUNS
    assert {r.data.params["alpha"] for r in children if r.data.tags["method"] == "kd"} == {"0.9"}


def test_bad_input_stops_before_any_training(tmp_path, study):
    workdir, config, _ = study
    mirror = tmp_path / "mirror"
    shutil.copytree(workdir / "mirror", mirror)
    train = mirror / "glue_data" / "SST-2" / "train.tsv"
    train.write_text(train.read_text() + "an odd one .\t7\n")
    result = run_snakemake(tmp_path, {**config, "tasks": ["sst2"], "seeds_by_task": {},
                                      "assets": {"mirror": str(mirror)}})
    assert result.returncode != 0
    assert re.search(r"error: .*SST-2/train.tsv: line 58: column 'label' has '7' outside 0..1", result.stderr)
    assert not (tmp_path / "results" / "teacher").exists() and not (tmp_path / "results" / "runs").exists()
    assert not (tmp_path / "results" / "data" / "sst2").exists()  # no half-written data folder either


def test_config_errors_stop_at_start_with_one_line(tmp_path, study):
    _, config, _ = study
    result = run_snakemake(tmp_path, {**config, "methods": ["finetune", "swa", "mixup"]})
    assert result.returncode != 0
    assert "error: " in result.stderr and "methods[2]: 'mixup' is neither a method" in result.stderr
    assert not (tmp_path / "results").exists()
    result = run_snakemake(tmp_path, {**config, "models": {"teacher": "tiny-teacher", "student": "./nowhere/student"}})
    assert "error: config models.student: model folder './nowhere/student' does not exist" in result.stderr
