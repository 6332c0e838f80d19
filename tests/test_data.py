"""Loading real and broken data: every problem is found before training, in one line naming file and column."""
import random
import types
from pathlib import Path

import pytest
import torch

from swa_study.assets import AssetError, resolve_model
from swa_study.data import DataError, load_task_splits, subsample
from swa_study.tasks import get_task
from tiny_study import SHARED, write_sst2, write_stsb


def test_real_offline_files_load_with_the_published_sizes():
    splits, sources = load_task_splits(get_task("stsb"), SHARED)
    assert {k: len(v) for k, v in splits.items()} == {"train": 5749, "validation": 1500, "test": 1379}
    assert sources["train"].endswith("stsbenchmark/sts-train.csv")
    assert splits["train"][0]["label"] == 5.0 and splits["train"][0]["text_b"] == "An air plane is taking off."
    rte, _ = load_task_splits(get_task("rte"), SHARED)
    assert len(rte["validation"]) == 277 and set(rte["validation"]["label"]) == {0, 1}
    cola, _ = load_task_splits(get_task("cola"), SHARED)
    assert len(cola["train"]) == 8551 and cola["train"][1]["text_a"].startswith("One more pseudo generalization")


def test_subsample_is_seeded_and_stable():
    splits, _ = load_task_splits(get_task("rte"), SHARED)
    a = subsample(splits["train"], 50, seed=0)["idx"]
    assert a == subsample(splits["train"], 50, seed=0)["idx"]
    assert a != subsample(splits["train"], 50, seed=1)["idx"]
    assert len(subsample(splits["train"], 10_000, seed=0)) == 2490


def test_missing_data_file_is_named(tmp_path):
    write_sst2(tmp_path / "glue_data" / "SST-2", {"train": 4}, random.Random(0))  # no dev.tsv
    with pytest.raises(AssetError, match=r"glue_data/SST-2/dev.tsv: data file for task 'sst2' is missing"):
        load_task_splits(get_task("sst2"), tmp_path)


def test_label_outside_the_declared_classes_is_named(tmp_path):
    folder = tmp_path / "glue_data" / "SST-2"
    write_sst2(folder, {"train": 4, "validation": 4}, random.Random(0))
    (folder / "train.tsv").write_text("sentence\tlabel\na fine film .\t1\na third class ?\t2\n")
    with pytest.raises(DataError, match=r"SST-2/train.tsv: column 'label' has \[2\] outside 0..1 \(task 'sst2' declares 2 classes\)"):
        load_task_splits(get_task("sst2"), tmp_path)


def test_empty_split_is_named(tmp_path):
    write_stsb(tmp_path / "stsbenchmark", {"train": 4, "validation": 4, "test": 4}, random.Random(0))
    (tmp_path / "stsbenchmark" / "sts-dev.csv").write_text("")
    with pytest.raises(DataError, match=r"stsbenchmark/sts-dev.csv: split is empty"):
        load_task_splits(get_task("stsb"), tmp_path)


def test_unknown_model_path_is_named(tmp_path, monkeypatch):
    with pytest.raises(AssetError, match=r"config models.student: model folder './no/such/model' does not exist"):
        resolve_model("./no/such/model", tmp_path, "models.student")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AssetError, match=r"model 'org/not-mirrored' is not in the mirror"):
        resolve_model("org/not-mirrored", tmp_path, "models.teacher")
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2", SHARED) == str(SHARED / "models" / "all-MiniLM-L6-v2")


def test_regression_labels_train_on_a_unit_scale_and_are_scored_on_the_original_one():
    from transformers import AutoTokenizer

    from swa_study.data import tokenize
    from swa_study.evaluation import evaluate_splits
    from tiny_study import TOKENIZER

    task = get_task("stsb")
    splits, _ = load_task_splits(task, SHARED)
    rows = subsample(splits["validation"], 16, seed=0)
    prepared = tokenize(rows, AutoTokenizer.from_pretrained(str(TOKENIZER)), task, max_length=32)
    assert max(prepared["label"]) <= 1.0
    assert prepared["label"] == pytest.approx([score / 5.0 for score in rows["label"]])

    class Oracle(torch.nn.Module):
        """Predicts each row's own training target, so scaled-back predictions must equal the 0..5 gold."""

        def forward(self, input_ids, **kwargs):
            targets = {tuple(ids[ids != 0].tolist()): label for ids, label in zip(batch_ids, prepared["label"])}
            return types.SimpleNamespace(logits=torch.tensor([[targets[tuple(ids[ids != 0].tolist())]] for ids in input_ids]))

    batch_ids = [torch.tensor(ids) for ids in prepared["input_ids"]]
    metrics, predictions = evaluate_splits(Oracle(), AutoTokenizer.from_pretrained(str(TOKENIZER)), task,
                                           {"validation": prepared})
    assert predictions["label"].tolist() == pytest.approx(rows["label"])
    assert predictions["prediction"].tolist() == pytest.approx(rows["label"], abs=1e-5)
    assert metrics["validation"]["pearsonr"] == pytest.approx(1.0)
