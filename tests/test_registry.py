"""The MLflow model registry round trip through the real Snakefile: every seed's student logged as an MLflow model
(a LoggedModel of its run, with its scores), the best seed on the held-out rows registered, and loaded back with
`mlflow.transformers.load_model` to predict exactly what the study's own saved model predicts."""
import json

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from swa_study.data import load_prepared
from swa_study.models import load_trained
from swa_study.prediction import predict_logits
from swa_study.tracking.registry import best_seed
from test_pipeline import job_counts
from tiny_study import build_mirror, run_snakemake, tiny_config

SEEDS = [1, 2, 3]
NAME = "{study}-{task}-{method}"


def test_the_best_seed_is_the_highest_held_out_score_and_a_tie_goes_to_the_lower_seed():
    assert best_seed({1: 0.5, 2: 0.75, 3: 0.6}) == 2
    assert best_seed({4: 0.75, 2: 0.75, 3: 0.6}) == 2


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("registry")
    mirror = build_mirror(workdir / "mirror")
    config = tiny_config(mirror, study="tiny-registry", tasks=["sst2"], methods=["swa"], seeds=SEEDS,
                         analysis={"enabled": False},
                         tracking={"enabled": True, "uri": "sqlite:///mlflow.db", "log_models": True,
                                   "registered_model": NAME})
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    return workdir, config, result, MlflowClient(f"sqlite:///{workdir}/mlflow.db")


def test_every_seed_is_a_logged_model_of_its_run_with_its_scores(study):
    workdir, _, result, client = study
    assert job_counts(result.stderr)["register_model"] == 1
    experiment = client.get_experiment_by_name("tiny-registry").experiment_id
    runs = {r.data.tags["seed"]: r for r in client.search_runs([experiment]) if r.data.tags.get("kind") == "seed"}
    models = client.search_logged_models(experiment_ids=[experiment])
    assert sorted(client.get_run(m.source_run_id).data.tags["seed"] for m in models) == ["1", "2", "3"]
    for model in models:
        run = client.get_run(model.source_run_id)
        assert [output.model_id for output in run.outputs.model_outputs] == [model.model_id]
        scores = {metric.key: metric.value for metric in model.metrics}
        assert scores["validation_accuracy"] == pytest.approx(run.data.metrics["validation_accuracy"])
        assert "heldout_accuracy" in scores
    assert set(runs) == {"1", "2", "3"} and all(r.info.status == "FINISHED" for r in runs.values())


def test_the_registered_version_is_the_best_held_out_seed_and_loads_back_to_predict_alike(study):
    workdir, _, _, client = study
    record = json.loads((workdir / "results" / "registry" / "sst2" / "swa.json").read_text())
    heldout = {int(seed): score for seed, score in record["heldout"].items()}
    assert record["status"] == "complete" and record["chosen_seed"] == best_seed(heldout)
    assert record["registered_model"] == "tiny-registry-sst2-swa" and record["version"] == "1"
    version = client.get_model_version("tiny-registry-sst2-swa", "1")
    assert version.tags["seed"] == str(record["chosen_seed"]) and "validation_accuracy" in version.tags
    components = mlflow.transformers.load_model(record["model_uri"], return_type="components")
    run = workdir / "results" / "runs" / "sst2" / "swa" / f"seed{record['chosen_seed']}"
    ours, tokenizer = load_trained(run / "model")
    validation = load_prepared(workdir / "results" / "data" / "sst2" / "tiny-student")["validation"]
    np.testing.assert_array_equal(predict_logits(components["model"], validation, components["tokenizer"]),
                                  predict_logits(ours, validation, tokenizer))
    classify = mlflow.transformers.load_model(record["model_uri"])  # the pipeline `mlflow models serve` would run
    assert classify(["the film is good ."])[0]["label"] in {"LABEL_0", "LABEL_1"}


def test_a_second_run_registers_nothing_again(study):
    workdir, config, _, client = study
    result = run_snakemake(workdir, config)
    assert result.returncode == 0 and "Nothing to be done" in result.stderr + result.stdout
    assert [str(v.version) for v in client.search_model_versions("name='tiny-registry-sst2-swa'")] == ["1"]


def test_the_mlflow_ui_lists_the_registered_model(study):
    """What `make ui` shows a team: the Models page lists the study's registered student and its version."""
    from browser import mlflow_ui, page_text

    workdir, _, _, _ = study
    with mlflow_ui(workdir) as url:
        _, models = page_text(f"{url}/#/models")
        _, version = page_text(f"{url}/#/models/tiny-registry-sst2-swa/versions/1")
    assert "tiny-registry-sst2-swa" in models
    assert "Version 1" in version and "seed" in version
