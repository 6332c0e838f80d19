"""End-to-end: equal-budget tuning through the real Snakefile on a tiny study (random-init BERTs, a few dozen rows).

Every method gets two trials on each task, scored on the held-out training rows; the winner is what the seeds train
with; the tables, compute.csv and MLflow show the trials and the choice; editing one grid reruns only its method.
"""
import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from swa_study.study.tuning import setting_label
from swa_study.tuning_report import expected_max
from test_pipeline import job_counts
from tiny_study import build_mirror, run_snakemake, tiny_config

# one task keeps the study small: selection on a regression metric is the same code (tests/test_tuning.py)
TASKS, METHODS, SEEDS, TRIALS = ["sst2"], ["finetune", "swa", "kd"], [1, 2], 2
GRID = {"finetune": {"learning_rate": [1e-3, 3e-3]},
        "swa": {"learning_rate": [1e-3, 3e-3], "swa_lr": [1e-3, 2e-3]},  # 4 points: 2 drawn
        "kd": {"alpha": [0.5, 0.9]}}
HELDOUT_ROWS = 8  # tiny_config's data.heldout_size; the dev split has 24 rows


def tuned_config(mirror, grid=GRID):
    config = tiny_config(mirror, tasks=TASKS, methods=METHODS, seeds=SEEDS, analysis={"enabled": False})
    config["student"]["heldout_curve"] = True
    config["tuning"] = {"trials": TRIALS, "seed": 0, "grid": grid}
    return config


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tuned")
    config = tuned_config(build_mirror(workdir / "mirror"))
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def trial_records(workdir, task, method):
    return [json.loads((workdir / "results" / "tuning" / task / method / f"trial{k}" / "heldout.json").read_text())
            for k in range(1, TRIALS + 1)]


def test_every_method_gets_its_trials_and_the_seeds_train_with_the_held_out_winner(study):
    workdir, _, result = study
    counts = job_counts(result.stderr)
    runs = len(TASKS) * len(METHODS)
    assert (counts["train_trial"], counts["select_setting"], counts["tuning_tables"]) == (runs * TRIALS, runs, 1)
    assert counts["train_student"] == runs * len(SEEDS)
    for task in TASKS:
        for method in METHODS:
            records = trial_records(workdir, task, method)
            metric = records[0]["main_metric"]
            assert all(r["heldout_rows"] == HELDOUT_ROWS for r in records)  # the held-out rows, not the dev split
            best = max(records, key=lambda r: (r["heldout"][metric], -r["trial"]))  # ties: the lower trial
            selected = json.loads((workdir / "results" / "tuning" / task / method / "selected.json").read_text())
            assert selected["trial"] == best["trial"] and selected["setting"] == best["setting"]
            for k, record in enumerate(records, start=1):
                info = json.loads((workdir / "results" / "tuning" / task / method / f"trial{k}"
                                   / "train_info.json").read_text())
                assert info["seed"] == 0 and info["trial"] == k
                assert {key: info["hyperparameters"][key] for key in record["setting"]} == record["setting"]
                assert '"heldout_' in (workdir / "results" / "tuning" / task / method / f"trial{k}"
                                       / "train_log.jsonl").read_text()  # the per-epoch held-out curve
            assert not (workdir / "results" / "tuning" / task / method / "trial1" / "model").exists()
            for seed in SEEDS:
                info = json.loads((workdir / "results" / "runs" / task / method / f"seed{seed}"
                                   / "train_info.json").read_text())
                assert {key: info["hyperparameters"][key] for key in best["setting"]} == best["setting"]
                assert info["tuning"]["trial"] == best["trial"]
    swa = [r["setting"] for r in trial_records(workdir, "sst2", "swa")]
    assert len({setting_label(s) for s in swa}) == TRIALS  # two distinct points drawn from swa's four


def test_the_tables_show_the_chosen_settings_and_expected_validation_performance(study):
    workdir, _, _ = study
    results = workdir / "results"
    tuning_md = (results / "tuning" / "tuning.md").read_text()
    summary_md = (results / "tables" / "summary.md").read_text()
    curves = pd.read_csv(results / "tuning" / "expected_validation.csv")
    trials = pd.read_csv(results / "tuning" / "tuning.csv")
    assert len(trials) == len(TASKS) * len(METHODS) * TRIALS and trials.selected.sum() == len(TASKS) * len(METHODS)
    for task in TASKS:
        for method in METHODS:
            selected = json.loads((results / "tuning" / task / method / "selected.json").read_text())
            label = setting_label(selected["setting"])
            assert f"| {task} | {method} | {label} (trial {selected['trial']}) |" in tuning_md
            assert f"{method} {label}" in summary_md
            scores = [r["heldout"][r["main_metric"]] * 100 for r in trial_records(workdir, task, method)]
            rows = curves[(curves.task == task) & (curves.method == method)].set_index("k")
            assert list(rows.index) == list(range(1, TRIALS + 1))
            for k in rows.index:
                mean, std = expected_max(scores, k)
                assert rows.loc[k, "expected_max"] == pytest.approx(mean, abs=1e-4)
                assert rows.loc[k, "std"] == pytest.approx(std, abs=1e-4)
            assert rows.loc[TRIALS, "expected_max"] >= rows.loc[1, "expected_max"] - 1e-9
    assert "Tuned settings (tuning/tuning.md)" in summary_md
    assert (results / "tuning" / "expected_validation.png").stat().st_size > 1000


def test_compute_charges_every_trial_to_its_method(study):
    workdir, _, _ = study
    results = workdir / "results"
    compute = pd.read_csv(results / "tables" / "compute.csv").set_index(["task", "method"])
    for task in TASKS:
        for method in METHODS:
            seconds = sum(json.loads((results / "tuning" / task / method / f"trial{k}" / "train_info.json")
                                     .read_text())["compute"]["train_seconds"] for k in range(1, TRIALS + 1))
            row = compute.loc[(task, method)]
            assert row.tuning_trials == TRIALS
            assert row.tuning_seconds == pytest.approx(seconds)
            assert row.tuned_total_seconds == pytest.approx(row.total_seconds + seconds)
            assert row.tuned_total_flops == pytest.approx(row.total_flops + row.tuning_flops)
        assert compute.loc[(task, "finetune"), "tuned_flops_vs_finetune"] == pytest.approx(1.0)


def test_mlflow_groups_the_trials_under_their_method_and_the_parent_shows_the_choice(study):
    workdir, _, _ = study
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = {r.data.tags["run_key"]: r for r in runs if r.data.tags.get("kind") == "group"}
    trials = [r for r in runs if r.data.tags.get("kind") == "trial"]
    assert len(trials) == len(TASKS) * len(METHODS) * TRIALS
    for run in trials:
        task, method, trial = run.data.tags["task"], run.data.tags["method"], int(run.data.tags["trial"])
        parent = parents[f"{task}/{method}"]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        record = trial_records(workdir, task, method)[trial - 1]
        metric = record["main_metric"]
        assert run.data.metrics[f"trial_heldout_{metric}"] == pytest.approx(record["heldout"][metric])
        assert not any(key.startswith("validation_") for key in run.data.metrics)  # never scored on dev
    for task in TASKS:
        for method in METHODS:
            selected = json.loads((workdir / "results" / "tuning" / task / method / "selected.json").read_text())
            tags = parents[f"{task}/{method}"].data.tags
            assert tags["tuning.selected_trial"] == str(selected["trial"])
            assert all(tags[f"tuning.{k}"] == str(v) for k, v in selected["setting"].items())


def test_editing_one_grid_reruns_only_that_methods_trials_and_seeds(study):
    workdir, config, _ = study
    edited = tuned_config(config["assets"]["mirror"], {**GRID, "kd": {"alpha": [0.5, 0.8]}})
    result = run_snakemake(workdir, edited, "-n")
    assert result.returncode == 0, result.stderr[-2000:]
    planned = result.stdout + result.stderr  # snakemake 9.27 prints a dry run's plan on stdout
    counts = job_counts(planned)
    # trial 1 (alpha 0.5) is unchanged: only trial 2 of each task reruns, then kd's selection and seeds
    assert counts["train_trial"] == len(TASKS) and counts["select_setting"] == len(TASKS)
    assert counts["train_student"] == len(TASKS) * len(SEEDS)
    outputs = " ".join(line for line in planned.splitlines() if line.strip().startswith("output:"))
    assert "tuning/sst2/kd/trial2/" in outputs and "tuning/sst2/kd/trial1/" not in outputs
    assert "runs/sst2/finetune/" not in outputs and "tuning/sst2/swa/" not in outputs
