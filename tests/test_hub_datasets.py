"""The Hub path for datasets, offline: a folder in the Hub's own layout (parquet shards under data/, a dataset card
whose `configs:` name the config and its splits) given as `hub.path` loads through `datasets.load_dataset`, the
call online users make with a Hub id, end to end through the real Snakefile, and reaches MLflow as a Hugging Face
dataset source. A config or split the card does not offer is one line at planning."""
import json
import random
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from swa_study.data import load_task_splits
from swa_study.study.assets import AssetError
from swa_study.study.sources import describe_source
from swa_study.study.tasks import task_from_definition
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


@pytest.fixture(scope="module")
def study(hub_folder, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hub-study")
    mirror = workdir / "mirror"
    build_model(mirror / "models" / "tiny-teacher", layers=1, seed=0)
    build_model(mirror / "models" / "tiny-student", layers=1, seed=1)
    config = tiny_config(mirror, study="tiny-hub", tasks=["reviews"], methods=["finetune"], seeds=[1],
                         task_definitions={"reviews": definition(hub_folder)}, analysis={"enabled": False})
    result = run_snakemake(workdir, config, env=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def test_the_study_runs_end_to_end_and_mlflow_names_the_hugging_face_source(study, hub_folder):
    workdir, _, result = study
    assert job_counts(result.stderr)["train_student"] == 1
    info = json.loads((workdir / "results" / "data" / "reviews" / "tiny-student" / "info.json").read_text())
    assert info["rows"] == {"train": 32, "heldout": 8, "validation": 16}
    assert info["hub"]["train"] == {"path": str(hub_folder), "config_name": "reviews", "split": "train"}
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny-hub")
    [run] = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "seed"]
    sources = {d.dataset.name: mlflow.data.get_source(d.dataset) for d in run.inputs.dataset_inputs}
    train = sources["reviews-train"]
    assert type(train).__name__ == "HuggingFaceDatasetSource"
    assert (train.path, train.config_name, train.split) == (str(hub_folder), "reviews", "train")


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
    assert counts.get("train_student") == 1 and "prepare_data" not in counts
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
