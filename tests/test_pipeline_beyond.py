"""End-to-end: EMA, LAWA, SWAG, SAM, SAM+SWA and model soups through the real Snakefile on a tiny study of a
classification and a span (SQuAD format) task, with calibration for every classification run (issue 11). The methods
are one Trainer for every family; generation (CommonGen) trains SWA and SWA+KD through it in
test_pipeline_families.py. Regression (STS-B) goes through the same code; its scoring without probabilities is a
unit test (test_calibration)."""
import json

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from test_pipeline import job_counts
from tiny_study import build_mirror, run_snakemake, tiny_config

TASKS, SEEDS = ["sst2", "squad"], [1, 2]
TRAINED = ["finetune", "ema", "lawa", "swag", "sam", "sam_swa"]
SOUPS = {"sst2": ["uniform", "greedy"], "squad": ["uniform"]}
RUNS = len(TASKS) * len(TRAINED) * len(SEEDS)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("beyond")
    mirror = build_mirror(workdir / "mirror")
    config = tiny_config(
        mirror, study="tiny-beyond", tasks=TASKS, methods=[*TRAINED, "soup"], seeds=SEEDS,
        qa={"doc_stride": 8, "train_articles": 4, "eval_articles": 2},
        evaluation={"calibration_bins": 5},
    )
    config["student"]["init_seed"] = 0  # soups mix runs from one starting point
    config["analysis"] = {"enabled": False}  # flatness has its own test (test_evidence.py); 24 runs here
    config["method_params"].update({
        "ema": {"ema_decay": 0.9}, "lawa": {"lawa_k": 3, "lawa_every_steps": 2},
        "swag": {"swa_start": 0.5, "swa_every_steps": 2, "swag_rank": 3, "swag_samples": 3},
        "sam": {"sam_rho": 0.05}, "sam_swa": {"sam_rho": 0.05, "swa_start": 0.5, "swa_every_steps": 2},
    })
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def run_files(workdir, task, folder):
    path = workdir / "results" / "runs" / task / folder
    return json.loads((path / "metrics.json").read_text()), json.loads((path / "train_info.json").read_text()), path


def test_every_method_and_soup_runs_on_every_family(study):
    workdir, _, result = study
    soups = sum(len(recipes) for recipes in SOUPS.values())
    assert job_counts(result.stderr) == {"prepare_data": len(TASKS), "train_student": RUNS, "evaluate": RUNS,
                                         "soup": soups, "aggregate": 1, "calibration": 1, "plot_task": len(TASKS),
                                         "trivial_baseline": 1, "mlflow_sync": 1, "all": 1}  # sst2's floor only
    for task in TASKS:
        for seed in SEEDS:
            sam = run_files(workdir, task, f"sam/seed{seed}")[1]["compute"]
            assert sam["forward_backward_passes"] == 2 * sam["optimizer_steps"]  # no gradient accumulation here
            ema = run_files(workdir, task, f"ema/seed{seed}")[1]["compute"]
            assert ema["ema_updates"] == ema["optimizer_steps"]
            lawa = run_files(workdir, task, f"lawa/seed{seed}")[1]["compute"]
            assert lawa["lawa_collected_steps"][-1] == lawa["optimizer_steps"] and lawa["lawa_models_averaged"] == 3
            metrics, info, path = run_files(workdir, task, f"swag/seed{seed}")
            moments = load_file(path / "model" / "swag_moments.safetensors")
            assert any(k.startswith("deviations.") for k in moments)
            assert metrics["swag"]["bma"] == (task == "sst2")
            assert ("validation_swa_mean" in metrics) == (task == "sst2")


def test_classification_runs_carry_calibration_and_swag_reports_both_models(study):
    workdir, _, _ = study
    for method in TRAINED:
        metrics = run_files(workdir, "sst2", f"{method}/seed1")[0]
        assert {"accuracy", "ece", "nll", "brier"} <= set(metrics["validation"])
        assert sum(metrics["reliability"]["validation"]["count"]) == 24
        assert "ece" not in run_files(workdir, "squad", f"{method}/seed1")[0]["validation"]  # no probabilities
    swag = run_files(workdir, "sst2", "swag/seed1")[0]
    assert set(swag["validation_swa_mean"]) == set(swag["validation"])
    assert swag["swag"]["samples"] == 3 and swag["swag"]["deviation_columns"] == 3
    runs = pd.read_csv(workdir / "results" / "tables" / "runs.csv")
    swag_runs = runs[runs.method == "swag"]
    assert swag_runs.loc[swag_runs.task == "sst2", "validation_swa_mean.accuracy"].notna().all()
    assert "validation_swa_mean.f1" not in runs.columns  # QA reports the SWA mean alone
    assert runs.loc[(runs.task == "sst2"), "validation.ece"].notna().all()
    calibration = (workdir / "results" / "tables" / "calibration.md").read_text()
    for row in ("| swag |", "| swag/swa_mean |", "| soup_greedy |", "| sam_swa |"):
        assert row in calibration
    table = pd.read_csv(workdir / "results" / "tables" / "calibration.csv")
    assert set(table.task) == {"sst2"} and (table.loc[table.method == "sam", "n"] == 2).all()
    assert (workdir / "results" / "plots" / "reliability_sst2.png").stat().st_size > 5000
    assert not (workdir / "results" / "plots" / "reliability_squad.png").exists()


def test_soups_mix_the_finetune_runs_and_appear_as_rows(study):
    workdir, _, _ = study
    uniform, info, path = run_files(workdir, "sst2", "soup_uniform")
    assert uniform["seed"] is None and uniform["soup"]["chosen_seeds"] == SEEDS
    assert info["hyperparameters"] == {"recipe": "uniform", "ingredients": "finetune", "seeds": SEEDS}
    soup = load_file(path / "model" / "model.safetensors")
    ingredients = [load_file(workdir / "results" / "runs" / "sst2" / "finetune" / f"seed{s}" / "model" /
                             "model.safetensors") for s in SEEDS]
    for key, value in soup.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (ingredients[0][key] + ingredients[1][key]) / 2)
    greedy = run_files(workdir, "sst2", "soup_greedy")[0]["soup"]
    own = [i["heldout_score"] for i in greedy["ingredients"]]
    assert greedy["heldout_score"] >= max(own)  # never below its best ingredient on the held-out rows
    scores = [r["soup_score"] for r in greedy["greedy_trace"]]
    assert scores == sorted(scores) and greedy["chosen_seeds"][0] == SEEDS[own.index(max(own))]
    squad = run_files(workdir, "squad", "soup_uniform")[0]
    assert squad["soup"]["heldout_score"] is None and "f1" in squad["validation"]
    summary = pd.read_csv(workdir / "results" / "tables" / "summary.csv")
    assert list(summary.method) == ["trivial (majority / mean)", *TRAINED, "soup_uniform", "soup_greedy"]
    assert summary.set_index("method").loc["soup_greedy", "squad_mean"] != summary.set_index("method").loc[
        "soup_greedy", "squad_mean"]  # NaN: no greedy soup without a held-out slice


def test_mlflow_holds_every_run_and_soup_with_calibration(study):
    workdir, config, _ = study
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny-beyond")
    children = [r for r in client.search_runs([experiment.experiment_id], max_results=2000)
                if r.data.tags.get("kind") == "seed"]
    assert len(children) == RUNS + sum(len(recipes) for recipes in SOUPS.values())
    by_key = {r.data.tags["run_key"]: r for r in children}
    assert {"validation_ece", "validation_nll", "validation_brier"} <= set(by_key["sst2/sam/seed1"].data.metrics)
    assert "validation_swa_mean_accuracy" in by_key["sst2/swag/seed1"].data.metrics
    assert "heldout_accuracy" in by_key["sst2/soup_greedy/seedNone"].data.metrics
    assert run_snakemake(workdir, config).stderr.count("Nothing to be done") == 1
