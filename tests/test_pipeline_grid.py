"""End to end: a study written entirely in config, through the real Snakefile.

A task defined only in the test's config (a CSV it writes: header row, quoted text with commas and quotes, a UTF-8
BOM, named labels), and method variants (SWA's ablation settings, a KD variant) as rows of their own: jobs, folders,
tables, significance, MLflow parents; editing one variant reruns its jobs only.
"""
import json
import random

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from test_pipeline import job_counts
from tiny_study import NEGATIVE, NOUNS, POSITIVE, REPO, build_model, run_snakemake

METHODS = ["finetune", "swa", "swa_fast", "swa_cyclic", "swa_epoch", "kd_hot"]
SEEDS = [1, 2]


def write_reviews(folder, rows, rng):
    """A CSV as spreadsheets write it: BOM, header, quoted fields holding commas and doubled quotes."""
    lines = ["review,stars"]
    for i in range(rows):
        label = rng.randint(0, 1)
        word = rng.choice(POSITIVE if label else NEGATIVE)
        text = f'the {rng.choice(NOUNS)}, "{word}", is {word}' if i % 3 == 0 else f"the {rng.choice(NOUNS)} is {word}"
        quoted = '"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text
        lines.append(f"{quoted},{'pos' if label else 'neg'}")
    folder.mkdir(parents=True, exist_ok=True)
    return "\ufeff" + "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("grid")
    mirror = workdir / "mirror"
    build_model(mirror / "models" / "tiny-teacher", layers=2, seed=0)
    build_model(mirror / "models" / "tiny-student", layers=1, seed=1)
    rng = random.Random(0)
    data = workdir / "my_data"
    (data / "train.csv").parent.mkdir(parents=True, exist_ok=True)
    (data / "train.csv").write_text(write_reviews(data, 56, rng), encoding="utf-8")
    (data / "dev.csv").write_text(write_reviews(data, 16, rng), encoding="utf-8")
    config = {
        "study": "grid", "tasks": ["reviews"], "methods": METHODS, "seeds": SEEDS,
        "task_definitions": {"reviews": {
            "family": "classification", "num_labels": 2, "label_map": {"neg": 0, "pos": 1},
            "metrics": ["accuracy", "f1"], "main_metric": "accuracy",
            "columns": {"text_a": "review", "label": "stars"},
            "local": {"folder": str(data), "files": {"train": "train.csv", "validation": "dev.csv"}},
        }},
        "variants": {
            "swa_fast": {"method": "swa", "swa_lr": 2.0e-3},
            "swa_cyclic": {"method": "swa", "swa_schedule": "cyclic", "swa_every_steps": 3, "swa_lr_min": 1.0e-4},
            "swa_epoch": {"method": "swa", "swa_every": "epoch"},
            "kd_hot": {"method": "kd", "temperature": 4.0, "learning_rate": 2.0e-3},
        },
        "assets": {"mirror": str(mirror)},
        "models": {"teacher": "tiny-teacher", "student": "tiny-student"},
        "data": {"max_length": 32, "heldout_size": 8},
        "teacher": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3},
        "student": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1},
        "method_params": {"swa": {"swa_start": 0.5, "swa_every_steps": 2}},
        "resources": {"train_threads": 1},
        "tracking": {"enabled": True, "uri": "sqlite:///mlflow.db"},
    }
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def run_info(workdir, method, seed=1):
    return json.loads((workdir / "results" / "runs" / "reviews" / method / f"seed{seed}" / "train_info.json").read_text())


def test_every_variant_is_a_run_of_its_own_and_a_row_of_the_tables(grid):
    workdir, _, result = grid
    runs = len(METHODS) * len(SEEDS)
    assert job_counts(result.stderr) == {"prepare_data": 2, "train_teacher": 1, "teacher_logits": 1,
                                         "train_student": runs, "evaluate": runs, "aggregate": 1, "calibration": 1,
                                         "mlflow_sync": 1,
                                         "analyse_flatness": runs, "flatness_tables": 1, "plot_flatness": 1,
                                         "plot_task": 1, "trivial_baseline": 1, "all": 1}
    info = run_info(workdir, "swa_fast")
    assert info["method"] == "swa_fast" and info["base_method"] == "swa"
    assert info["hyperparameters"]["swa_lr"] == 2.0e-3 and info["hyperparameters"]["swa_start"] == 0.5
    assert run_info(workdir, "kd_hot")["hyperparameters"]["temperature"] == 4.0
    summary = pd.read_csv(workdir / "results" / "tables" / "summary.csv")
    assert list(summary.method) == ["trivial (majority / mean)", *METHODS]
    assert list(summary.reviews_n[1:]) == [2] * len(METHODS)
    significance = pd.read_csv(workdir / "results" / "tables" / "significance.csv")
    assert {"swa_fast", "swa_cyclic", "swa_epoch", "kd_hot"} <= set(significance.method)
    assert "| swa_cyclic |" in (workdir / "results" / "tables" / "summary.md").read_text()


def test_the_ablation_settings_change_what_swa_does(grid):
    workdir, _, _ = grid
    steps = 18  # 48 training rows (8 of 56 held out) / batch 8 x 3 epochs
    assert run_info(workdir, "swa")["compute"]["swa_collected_steps"] == [9, 11, 13, 15, 17]
    assert run_info(workdir, "swa_epoch")["compute"]["swa_collected_steps"] == [9, 12, 18]  # start, epoch ends
    cyclic = run_info(workdir, "swa_cyclic")["compute"]
    assert cyclic["swa_collected_steps"] == [9, 12, 15, 18] and cyclic["swa_schedule"] == "cyclic"
    log = workdir / "results" / "runs" / "reviews" / "swa_cyclic" / "seed1" / "train_log.jsonl"
    lrs = {r["step"]: r["learning_rate"] for r in map(json.loads, log.read_text().splitlines()) if "learning_rate" in r}
    # the LR logged at step s is the one of the update that led to s: a saw-tooth from 1e-3 down to 1e-4 per cycle
    assert [lrs[s] for s in (10, 11, 12, 13, 14, 15)] == pytest.approx([7e-4, 4e-4, 1e-4, 7e-4, 4e-4, 1e-4])
    assert run_info(workdir, "swa")["compute"]["optimizer_steps"] == steps


def test_the_task_defined_in_config_was_read_exactly(grid):
    workdir, _, _ = grid
    info = json.loads((workdir / "results" / "data" / "reviews" / "tiny-student" / "info.json").read_text())
    assert info["rows"] == {"train": 48, "heldout": 8, "validation": 16}
    predictions = pd.read_csv(workdir / "results" / "runs" / "reviews" / "finetune" / "seed1" / "predictions.tsv",
                              sep="\t")
    assert len(predictions) == 16 and set(predictions.label) <= {0, 1}
    metrics = json.loads((workdir / "results" / "runs" / "reviews" / "finetune" / "seed1" / "metrics.json").read_text())
    assert set(metrics["validation"]) == {"accuracy", "f1", "ece", "nll", "brier"}  # calibration: every classifier


def test_mlflow_has_a_parent_per_variant(grid):
    workdir, _, _ = grid
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("grid")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = {r.data.tags["run_key"] for r in runs if r.data.tags.get("kind") == "group"}
    assert parents == {f"reviews/{m}" for m in METHODS}
    child = next(r for r in runs if r.data.tags.get("run_key") == "reviews/swa_fast/seed1")
    assert child.data.params["base_method"] == "swa" and child.data.params["swa_lr"] == "0.002"


def test_editing_one_variant_reruns_only_its_jobs(grid):
    workdir, config, _ = grid
    untouched = workdir / "results" / "runs" / "reviews" / "swa" / "seed1" / "train_info.json"
    stamp = untouched.stat().st_mtime_ns
    config["variants"]["swa_fast"]["swa_lr"] = 3.0e-3
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert job_counts(result.stderr) == {"train_student": 2, "evaluate": 2, "aggregate": 1, "calibration": 1,
                                         "mlflow_sync": 1, "all": 1,
                                         "analyse_flatness": 2, "flatness_tables": 1, "plot_flatness": 1,
                                         "plot_task": 1}
    assert untouched.stat().st_mtime_ns == stamp
    assert run_info(workdir, "swa_fast", 2)["hyperparameters"]["swa_lr"] == 3.0e-3


def test_the_shipped_ablation_plans_every_task_variant_and_seed():
    workdir = REPO
    result = run_snakemake_plan(workdir / "config" / "swa-ablation.yaml")
    planned = job_counts(result.stdout + result.stderr)
    assert planned["train_student"] == 2 * 9 * 5 and planned["evaluate"] == 90 and "train_teacher" not in planned


def run_snakemake_plan(configfile):
    import subprocess

    from tiny_study import SNAKEMAKE

    return subprocess.run([SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(REPO),
                           "--configfile", str(configfile), "--forceall"], capture_output=True, text=True, cwd=REPO)
