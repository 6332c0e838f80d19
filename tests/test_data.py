"""Loading real and broken data: every problem is found before training, in one line naming file and column."""
import random
import types

import pytest
import torch

from swa_study.study.assets import AssetError, resolve_model
from swa_study.data import DataError, load_task_splits, split_training_rows, subsample
from swa_study.study.tasks import builtin_task as get_task, task_from_definition
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
    with pytest.raises(AssetError, match=r"glue_data/SST-2/dev.tsv: validation file of task 'sst2' is missing"):
        load_task_splits(get_task("sst2"), tmp_path)


def test_label_outside_the_declared_classes_is_named(tmp_path):
    folder = tmp_path / "glue_data" / "SST-2"
    write_sst2(folder, {"train": 4, "validation": 4}, random.Random(0))
    (folder / "train.tsv").write_text("sentence\tlabel\na fine film .\t1\na third class ?\t2\n")
    with pytest.raises(DataError, match=r"SST-2/train.tsv: line 3: column 'label' has '2' outside 0..1 \(task 'sst2' declares 2 classes"):
        load_task_splits(get_task("sst2"), tmp_path)


def test_empty_split_is_named(tmp_path):
    write_stsb(tmp_path / "stsbenchmark", {"train": 4, "validation": 4, "test": 4}, random.Random(0))
    (tmp_path / "stsbenchmark" / "sts-dev.csv").write_text("")
    with pytest.raises(AssetError, match=r"stsbenchmark/sts-dev.csv: validation file of task 'stsb' is empty"):
        load_task_splits(get_task("stsb"), tmp_path)


def test_held_out_rows_are_disjoint_from_training_and_do_not_change_the_training_rows():
    splits, _ = load_task_splits(get_task("rte"), SHARED)
    train, heldout = split_training_rows(splits["train"], 100, 30, seed=0)
    assert len(train) == 100 and len(heldout) == 30 and not set(train["idx"]) & set(heldout["idx"])
    assert train["idx"] == subsample(splits["train"], 100, seed=0)["idx"]  # the same rows as without a held-out slice
    assert split_training_rows(splits["train"], 100, 10, seed=0)[0]["idx"] == train["idx"]
    everything, held = split_training_rows(splits["train"], None, 40, seed=0)
    assert len(everything) == 2450 and sorted(everything["idx"]) == everything["idx"]  # file order kept
    with pytest.raises(DataError, match="data.heldout_size 2500 leaves none of the 2490 training rows"):
        split_training_rows(splits["train"], None, 2500, seed=0)


def reviews(folder, files, **changes):
    definition = {"family": "classification", "num_labels": 2, "metrics": ["accuracy"], "main_metric": "accuracy",
                  "columns": {"text_a": "review", "label": "stars"},
                  "local": {"folder": str(folder), "files": files}}
    definition.update(changes)
    return task_from_definition("reviews", definition, "config.yaml: task_definitions.reviews")


def test_a_csv_with_a_bom_quotes_and_a_label_map_loads_exactly(tmp_path):
    (tmp_path / "train.csv").write_text('\ufeffreview,stars\n"Great, ""truly"" great",pos\nmeh,neg\n', encoding="utf-8")
    (tmp_path / "dev.csv").write_text('review,stars\n"line one\nline two",neg\n', encoding="utf-8")
    task = reviews(tmp_path, {"train": "train.csv", "validation": "dev.csv"}, label_map={"neg": 0, "pos": 1})
    splits, _ = load_task_splits(task, None)
    assert splits["train"]["text_a"] == ['Great, "truly" great', "meh"] and splits["train"]["label"] == [1, 0]
    assert splits["validation"]["text_a"] == ["line one\nline two"]


def test_jsonl_and_json_files_load(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"review": "fine", "stars": 1}\n{"review": "poor", "stars": 0}\n')
    (tmp_path / "dev.jsonl").write_text('{"review": "good", "stars": 1}\n')
    splits, _ = load_task_splits(reviews(tmp_path, {"train": "train.jsonl", "validation": "dev.jsonl"}), None)
    assert splits["train"]["label"] == [1, 0] and splits["validation"]["text_a"] == ["good"]
    (tmp_path / "train.json").write_text('[{"review": "good", "stars": 1}, {"review": "bad", "stars": null}]')
    with pytest.raises(DataError, match=r"train.json: record 2: column 'stars' \(label\) is null"):
        load_task_splits(reviews(tmp_path, {"train": "train.json", "validation": "train.json"}), None)


@pytest.mark.parametrize(
    "train, expected",
    [
        ("review,stars\nfine\n", r"train.csv: line 2: 1 fields, expected 2 \(review, stars\); the field for 'stars' is missing"),
        ("review,stars\nfine,1,extra\n", r"train.csv: line 2: 3 fields, but the header names 2"),
        ("review,stars\n", r"train.csv: no data rows \(only a header, or blank lines\)"),
        ("review,stars\nfine,five\n", r"train.csv: line 2: column 'stars' has 'five' outside 0..1"),
        (b"review,stars\nna\xefve,1\n", r"train.csv: not valid UTF-8 text"),
        ("text,stars\nfine,1\n", r"train.csv: column 'review' \(text_a of task 'reviews'\) not found"),
    ],
    ids=["missing-field", "extra-field", "header-only", "label-not-a-class", "not-utf8", "missing-column"],
)
def test_broken_files_are_one_line_naming_file_row_and_column(tmp_path, train, expected):
    path = tmp_path / "train.csv"
    path.write_bytes(train) if isinstance(train, bytes) else path.write_text(train)
    (tmp_path / "dev.csv").write_text("review,stars\nok,1\n")
    with pytest.raises((DataError, AssetError), match=expected):
        load_task_splits(reviews(tmp_path, {"train": "train.csv", "validation": "dev.csv"}), None)


def test_a_score_that_is_not_a_number_names_its_line_and_column(tmp_path):
    write_stsb(tmp_path / "stsbenchmark", {"train": 4, "validation": 4, "test": 4}, random.Random(0))
    path = tmp_path / "stsbenchmark" / "sts-train.csv"
    path.write_text(path.read_text() + "main-captions\tMSRvid\t2012test\t0099\thigh\ta b .\ta c .\n")
    with pytest.raises(DataError, match=r"sts-train.csv: line 5: column 'score' has 'high', not a number"):
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


# --- file mistakes a spreadsheet or an export makes ---------------------------------------------------------------

def reviews_task(folder, **local):
    return task_from_definition("reviews", {
        "family": "classification", "num_labels": 2, "metrics": ["accuracy"], "main_metric": "accuracy",
        "columns": {"text_a": "review", "text_b": None, "label": "stars"},
        "local": {"folder": str(folder), "files": {"train": "train.csv", "validation": "dev.csv"}, **local},
    }, "test")


@pytest.mark.parametrize("train, message", [
    ("review,stars,stars\ngood,1,1\n", r"train.csv: line 1: the header names column 'stars' twice"),
    ('review,stars\ngood,1\n"bad, so bad,0\nfine,1\n',
     r"train.csv: line 3: malformed csv \(unexpected end of data\); an unclosed quote runs to the end of the file"),
    ("review,stars\n" + "x" * 140_000 + ",1\n", r"train.csv: line 2: malformed csv \(field larger than field limit"),
], ids=["column-twice", "unclosed-quote", "huge-field"])
def test_a_malformed_csv_is_one_line_naming_the_line(tmp_path, train, message):
    (tmp_path / "train.csv").write_text(train)
    (tmp_path / "dev.csv").write_text("review,stars\nfine,1\n")
    with pytest.raises(DataError, match=message):
        load_task_splits(reviews_task(tmp_path), None)


def test_integer_labels_written_as_floats_are_the_classes_they_name(tmp_path):
    (tmp_path / "train.csv").write_text("review,stars\ngood,1.0\nbad,0.0\n")
    (tmp_path / "dev.csv").write_text("review,stars\nfine,1\n")
    splits, _ = load_task_splits(reviews_task(tmp_path), None)
    assert splits["train"]["label"] == [1, 0]
    (tmp_path / "train.csv").write_text("review,stars\ngood,0.5\n")
    with pytest.raises(DataError, match=r"line 2: column 'stars' has '0.5' outside 0..1"):
        load_task_splits(reviews_task(tmp_path), None)


def test_a_train_size_past_the_file_and_dev_rows_seen_in_training_are_reported(tmp_path, capfd):
    from swa_study.families import prepare_task
    from transformers import AutoTokenizer

    from tiny_study import TOKENIZER

    (tmp_path / "train.csv").write_text("review,stars\n" + "".join(f"film {i} is good,1\n" for i in range(10)))
    (tmp_path / "dev.csv").write_text("review,stars\nfilm 3 is good,1\nfilm 4 is good,1\nanother one,0\n")
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    with pytest.raises(DataError, match=r"train.csv: data.train_size 20 exceeds the 10 rows of task 'reviews'"):
        prepare_task(reviews_task(tmp_path), tokenizer, str(TOKENIZER), None, 16, 20, None, 0, {}, heldout_size=2)
    capfd.readouterr()
    splits, _, _ = prepare_task(reviews_task(tmp_path), tokenizer, str(TOKENIZER), None, 16, 8, None, 0, {},
                                heldout_size=2)
    assert len(splits["train"]) == 8
    assert ("warning: task 'reviews': 2 of 3 validation rows also appear in the training rows (same text)"
            in capfd.readouterr().err)
