"""End to end, what a team's tools expect, on one tiny study through the real Snakefile:
- the Hub path for datasets, offline: a folder in the Hub's own layout (parquet shards under data/, a dataset card
  whose `configs:` name the config and its splits) given as `hub.path` loads through `datasets.load_dataset`, the
  call online users make with a Hub id, and reaches MLflow as a Hugging Face dataset source; a config or split the
  card does not offer is one line at planning;
- MLflow's system metrics on every training run (tracking.system_metrics);
- the model registry round trip: every seed's student logged as an MLflow model (a LoggedModel of its run, with its
  scores), the best seed on the held-out rows registered, loaded back with `mlflow.transformers.load_model` to predict
  exactly what the study's own saved model predicts, and listed on the MLflow UI's Models page;
- reruns: settings that change no result rerun nothing; a data file or weights edited in the mirror rerun what was
  made from them; a teacher and a student folder of one name get their own data.
"""
import json
import random
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from swa_study.data import load_prepared, load_task_splits
from swa_study.models import load_trained
from swa_study.prediction import predict_logits
from swa_study.study.assets import AssetError
from swa_study.study.sources import describe_source
from swa_study.study.tasks import task_from_definition
from swa_study.tracking.registry import best_seed
from test_pipeline import job_counts
from tiny_study import NEGATIVE, NOUNS, POSITIVE, build_model, run_snakemake, tiny_config

CARD = """---
configs:
- config_name: reviews
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: validation
    path: data/validation-*.parquet
---
# Tiny reviews
Written by the test in the layout `huggingface_hub` uploads: parquet shards per split.
"""


def write_hub_folder(folder: Path, rows: dict[str, int]) -> Path:
    rng = random.Random(0)
    (folder / "data").mkdir(parents=True)
    for split, count in rows.items():
        labels = [rng.randint(0, 1) for _ in range(count)]
        frame = pd.DataFrame({"text": [f"the {rng.choice(NOUNS)} is {rng.choice(POSITIVE if y else NEGATIVE)} ."
                                       for y in labels], "label": labels})
        frame.to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet", index=False)
    (folder / "README.md").write_text(CARD)
    return folder


def definition(folder: Path, **hub) -> dict:
    return {"family": "classification", "num_labels": 2, "metrics": ["accuracy"], "main_metric": "accuracy",
            "columns": {"text_a": "text", "text_b": None, "label": "label"},
            "hub": {"path": str(folder), "config": "reviews", "splits": {"train": "train", "validation": "validation"},
                    **hub}}


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    return write_hub_folder(tmp_path_factory.mktemp("hub") / "tiny-reviews", {"train": 40, "validation": 16})


def test_a_hub_layout_folder_loads_offline_through_load_dataset(hub_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = task_from_definition("reviews", definition(hub_folder), "test")
    splits, sources = load_task_splits(task, mirror=None)
    assert {name: len(split) for name, split in splits.items()} == {"train": 40, "validation": 16}
    assert sources == {"train": f"hub:{hub_folder}/reviews[train]", "validation": f"hub:{hub_folder}/reviews[validation]"}
    expected = pd.read_parquet(hub_folder / "data" / "train-00000-of-00001.parquet")
    assert splits["train"]["text_a"] == list(expected.text) and splits["train"]["label"] == list(expected.label)


@pytest.mark.parametrize("hub, message", [
    ({"config": "movies"}, r"README.md: no config 'movies' \(hub.config of task 'reviews'\); its configs: reviews"),
    ({"splits": {"train": "train", "validation": "dev"}},
     r"README.md: config 'reviews' has no split 'dev' \(hub.splits.validation of task 'reviews'\); it has train, validation"),
])
def test_a_config_or_split_the_card_lacks_is_one_line_at_planning(hub_folder, hub, message):
    with pytest.raises(AssetError, match=message):
        describe_source(task_from_definition("reviews", definition(hub_folder, **hub), "test"), mirror=None)


OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
SEEDS = [1, 2, 3]
REGISTERED = "tiny-team-reviews-swa"  # tracking.registered_model "{study}-{task}-{method}"


@pytest.fixture(scope="module")
def study(hub_folder, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hub-study")
    mirror = workdir / "mirror"
    build_model(mirror / "models" / "tiny-teacher", layers=1, seed=0)
    build_model(mirror / "models" / "tiny-student", layers=1, seed=1)
    config = tiny_config(mirror, study="tiny-team", tasks=["reviews"], methods=["swa"], seeds=SEEDS,
                         task_definitions={"reviews": definition(hub_folder)}, analysis={"enabled": False},
                         tracking={"enabled": True, "uri": "sqlite:///mlflow.db", "log_models": True,
                                   "registered_model": "{study}-{task}-{method}", "system_metrics": True,
                                   "system_metrics_seconds": 0.2})
    result = run_snakemake(workdir, config, env=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    return workdir, config, result


def test_the_study_runs_end_to_end_and_mlflow_names_the_hugging_face_source(study, hub_folder):
    workdir, _, result = study
    assert job_counts(result.stderr)["train_student"] == len(SEEDS)
    info = json.loads((workdir / "results" / "data" / "reviews" / "tiny-student" / "info.json").read_text())
    assert info["rows"] == {"train": 32, "heldout": 8, "validation": 16}
    assert info["hub"]["train"] == {"path": str(hub_folder), "config_name": "reviews", "split": "train"}
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny-team")
    run = next(r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "seed")
    sources = {d.dataset.name: mlflow.data.get_source(d.dataset) for d in run.inputs.dataset_inputs}
    train = sources["reviews-train"]
    assert type(train).__name__ == "HuggingFaceDatasetSource"
    assert (train.path, train.config_name, train.split) == (str(hub_folder), "reviews", "train")


def test_the_best_seed_is_the_highest_held_out_score_and_a_tie_goes_to_the_lower_seed():
    assert best_seed({1: 0.5, 2: 0.75, 3: 0.6}) == 2
    assert best_seed({4: 0.75, 2: 0.75, 3: 0.6}) == 2


def test_every_seed_is_a_logged_model_of_its_run_with_its_scores(study):
    workdir, _, result = study
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    assert job_counts(result.stderr)["register_model"] == 1
    experiment = client.get_experiment_by_name("tiny-team").experiment_id
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
    for run in runs.values():  # tracking.system_metrics: the machine while it trained
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(run.data.metrics)


def test_the_registered_version_is_the_best_held_out_seed_and_loads_back_to_predict_alike(study):
    workdir, _, _ = study
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    record = json.loads((workdir / "results" / "registry" / "reviews" / "swa.json").read_text())
    heldout = {int(seed): score for seed, score in record["heldout"].items()}
    assert record["status"] == "complete" and record["chosen_seed"] == best_seed(heldout)
    assert record["registered_model"] == REGISTERED and record["version"] == "1"
    version = client.get_model_version(REGISTERED, "1")
    assert version.tags["seed"] == str(record["chosen_seed"]) and "validation_accuracy" in version.tags
    components = mlflow.transformers.load_model(record["model_uri"], return_type="components")
    run = workdir / "results" / "runs" / "reviews" / "swa" / f"seed{record['chosen_seed']}"
    ours, tokenizer = load_trained(run / "model")
    validation = load_prepared(workdir / "results" / "data" / "reviews" / "tiny-student")["validation"]
    np.testing.assert_array_equal(predict_logits(components["model"], validation, components["tokenizer"]),
                                  predict_logits(ours, validation, tokenizer))
    classify = mlflow.transformers.load_model(record["model_uri"])  # the pipeline `mlflow models serve` would run
    assert classify(["the film is good ."])[0]["label"] in {"LABEL_0", "LABEL_1"}


def test_a_second_run_registers_nothing_again(study):
    workdir, config, _ = study
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    result = run_snakemake(workdir, config, env=OFFLINE)
    assert result.returncode == 0 and "Nothing to be done" in result.stderr + result.stdout
    assert [str(v.version) for v in client.search_model_versions(f"name='{REGISTERED}'")] == ["1"]


def test_the_mlflow_ui_lists_the_registered_model(study):
    """What `make ui` shows a team: the Models page lists the study's registered student and its version."""
    from browser import mlflow_ui, page_text

    workdir, _, _ = study
    with mlflow_ui(workdir) as url:
        _, models = page_text(f"{url}/#/models")
        _, version = page_text(f"{url}/#/models/{REGISTERED}/versions/1")
    assert REGISTERED in models
    assert "Version 1" in version and "seed" in version


def planned(workdir: Path, config: dict) -> dict[str, int]:
    result = run_snakemake(workdir, config, "-n", env=OFFLINE)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    return job_counts(output) if "Job stats:" in output else {}


@pytest.mark.parametrize("change", [
    {"tracking": {"enabled": False}}, {"tracking": {"enabled": True, "uri": "sqlite:///elsewhere.db"}},
    {"study": "renamed"}, {"checkpoints": {"every_steps": 3, "keep": True}},
], ids=["tracking-off", "other-tracking-uri", "study-renamed", "checkpoint-interval"])
def test_settings_that_change_no_result_retrain_nothing(study, change):
    workdir, config, _ = study
    counts = planned(workdir, {**config, **change})
    assert not {"prepare_data", "train_teacher", "train_student", "evaluate"} & set(counts), counts


def test_raw_data_or_weights_edited_after_the_study_rerun_what_was_made_from_them(study, hub_folder):
    """The raw files and the checkpoint's are inputs: an edit in the mirror is never answered "Nothing to be done".
    (Snakemake compares the content of small inputs, so a mere `touch` reruns nothing.)"""
    workdir, config, _ = study
    assert planned(workdir, config) == {}
    build_model(workdir / "mirror" / "models" / "tiny-student", layers=1, seed=7)  # other weights, same tokenizer
    counts = planned(workdir, config)
    assert counts.get("train_student") == len(SEEDS) and "prepare_data" not in counts
    validation = hub_folder / "data" / "validation-00000-of-00001.parquet"
    rows = pd.read_parquet(validation)
    rows.assign(label=1 - rows.label).to_parquet(validation, index=False)  # a data file edited: the data reruns too
    assert planned(workdir, config).get("prepare_data") == 1


def test_a_teacher_and_a_student_folder_of_one_name_get_their_own_data(study, tmp_path):
    workdir, config, _ = study
    for role in ("teacher", "student"):
        build_model(tmp_path / role / "model", layers=1, seed=0)
    config = {**config, "methods": ["finetune", "kd"],
              "models": {"teacher": str(tmp_path / "teacher" / "model"), "student": str(tmp_path / "student" / "model")}}
    result = run_snakemake(tmp_path, config, "-n", env=OFFLINE)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "results/data/reviews/model-teacher" in result.stdout and "results/data/reviews/model-student" in result.stdout
