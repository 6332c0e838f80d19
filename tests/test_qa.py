"""Tests of the SQuAD building blocks in swa_study.qa on hand-made cases (and the real offline SQuAD json)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

from swa_study.qa.data import SQUAD_FEATURES, load_squad_offline
from swa_study.qa.features import (
    build_train_features,
    build_validation_features,
    prepare_train_features,
    prepare_validation_features,
)
from swa_study.qa.postprocess import postprocess_predictions
from swa_study.qa.squad_metric import METRIC_DIR, compute_squad, f1_score, load_squad_metric, normalize_answer

ASSETS = Path("/work/shared/offline-assets")
SQUAD_JSON = str(ASSETS / "squad" / "dev-v1.1.json")
TOKENIZER_DIR = str(ASSETS / "models" / "paraphrase-MiniLM-L3-v2")
MAX_LENGTH, STRIDE = 64, 16


# ----------------------------------------------------------------------------------------------------------- metric
def test_normalisation_and_exact_match():
    assert normalize_answer("  The   Cat. ") == "cat"
    assert normalize_answer("An apple, a pear & the plum!") == "apple pear plum"
    assert normalize_answer("New York-City") == "new yorkcity"  # punctuation is deleted, not turned into space
    assert normalize_answer("theory") == "theory"  # articles only as whole words
    scores = compute_squad({"q": "The Cat."}, {"q": {"text": ["cat"], "answer_start": [4]}})
    assert scores == {"exact_match": 100.0, "f1": 100.0}


def test_partial_overlap_f1_by_hand():
    # "red" vs "big red dog": 1 shared token, precision 1/1, recall 1/3 -> F1 = 2*(1*1/3)/(1+1/3) = 0.5
    assert f1_score("red", "big red dog") == pytest.approx(0.5)
    # "dog dog dog" vs "dog": shared tokens are counted with multiplicity min(3, 1) = 1 -> P 1/3, R 1 -> F1 0.5
    assert f1_score("dog dog dog", "dog") == pytest.approx(0.5)
    # "dog dog" vs "dog dog cat": 2 shared tokens -> P 2/2, R 2/3 -> F1 0.8 (a set-based overlap would give 0.4)
    assert f1_score("dog dog", "dog dog cat") == pytest.approx(0.8)
    # "the big red dog" vs "a red dog barked": tokens big red dog / red dog barked -> P = R = 2/3 -> F1 2/3
    assert f1_score("the big red dog", "a red dog barked") == pytest.approx(2 / 3)
    scores = compute_squad({"a": "The Cat.", "b": "red"}, {"a": ["cat"], "b": ["big red dog"]})
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(75.0)  # mean of 100 and 50


def test_max_over_gold_answers():
    # F1 against "red dog house" is 2/3, against "dog" 1/2: the best gold counts.
    scores = compute_squad({"q": "big red dog"}, {"q": ["red dog house", "dog"]})
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(100 * 2 / 3)
    # An exact match with any one gold gives EM 100 even if another gold is far off.
    scores = compute_squad({"q": "red dog"}, {"q": ["a dog that is red", "The red dog!"]})
    assert scores == {"exact_match": 100.0, "f1": 100.0}


def test_version_2_no_answer_cases():
    predictions = {"na_ok": "", "na_wrong": "Paris", "has_missed": "", "has_ok": "paris"}
    references = {"na_ok": [], "na_wrong": [], "has_missed": ["Paris"], "has_ok": ["Paris", "in Paris"]}
    scores = compute_squad(predictions, references, version_2=True)
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(50.0)
    assert scores["total"] == 4
    assert (scores["HasAns_exact"], scores["HasAns_f1"], scores["HasAns_total"]) == (50.0, 50.0, 2)
    assert (scores["NoAns_exact"], scores["NoAns_f1"], scores["NoAns_total"]) == (50.0, 50.0, 2)
    # v2 partial credit on an answerable question is the ordinary token F1.
    partial = compute_squad({"q": "red"}, {"q": ["big red dog"]}, version_2=True)
    assert partial["f1"] == pytest.approx(50.0) and "NoAns_f1" not in partial
    # The two official empty-string rules: v1 gives 0 when nothing is shared, v2 gives 1 for empty vs empty.
    assert f1_score("", "the") == 0.0 and f1_score("", "the", empty_matches_empty=True) == 1.0


def test_package_reexports():
    import swa_study.qa as qa

    assert qa.compute_squad is compute_squad and qa.load_squad_offline is load_squad_offline


def test_metric_rejects_bad_input():
    with pytest.raises(ValueError, match="version_2"):
        compute_squad({"q": ""}, {"q": []})  # an unanswerable question is not SQuAD v1.1
    with pytest.raises(ValueError, match="1 missing"):
        compute_squad({"a": "x"}, {"a": ["x"], "b": ["y"]})


def test_metric_module_loads_by_path_with_hub_input_format():
    import evaluate

    metric = evaluate.load(str(METRIC_DIR))
    assert type(metric).__name__ == type(load_squad_metric()).__name__ == "SquadLocal"
    scores = metric.compute(
        predictions=[{"id": "1", "prediction_text": "Denver Broncos"}, {"id": "2", "prediction_text": "Carolina"}],
        references=[
            {"id": "1", "answers": {"text": ["Denver Broncos", "the Broncos"], "answer_start": [177, 0]}},
            {"id": "2", "answers": {"text": ["Carolina Panthers"], "answer_start": [249]}},
        ],
    )
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)  # "Carolina": P 1, R 1/2 -> F1 2/3


# ------------------------------------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def raw_articles() -> dict[str, int]:
    """{title: number of questions} straight from the json, as the independent reference."""
    with open(SQUAD_JSON) as handle:
        data = json.load(handle)["data"]
    return {a["title"]: sum(len(p["qas"]) for p in a["paragraphs"]) for a in data}


def _titles(dataset) -> set[str]:
    return set(dataset["title"])


def test_split_is_by_article_disjoint_and_sized(raw_articles):
    splits = load_squad_offline(SQUAD_JSON, train_articles=10, eval_articles=5, seed=0)
    train, valid = _titles(splits["train"]), _titles(splits["validation"])
    assert len(train) == 10 and len(valid) == 5 and not train & valid
    assert len(splits["train"]) == sum(raw_articles[t] for t in train)
    assert len(splits["validation"]) == sum(raw_articles[t] for t in valid)
    assert not set(splits["train"]["id"]) & set(splits["validation"]["id"])
    file_order = list(raw_articles)  # rows keep the file's article order, whatever the shuffle
    for split in ("train", "validation"):
        seen = list(dict.fromkeys(splits[split]["title"]))
        assert seen == sorted(seen, key=file_order.index)
    assert splits["train"].features == SQUAD_FEATURES
    row = splits["validation"][0]
    start, text = row["answers"]["answer_start"][0], row["answers"]["text"][0]
    assert row["context"][start : start + len(text)] == text


def test_split_is_deterministic_per_seed():
    first = load_squad_offline(SQUAD_JSON, train_articles=6, eval_articles=4, seed=7)
    again = load_squad_offline(SQUAD_JSON, train_articles=6, eval_articles=4, seed=7)
    other = load_squad_offline(SQUAD_JSON, train_articles=6, eval_articles=4, seed=8)
    for split in ("train", "validation"):
        assert first[split]["id"] == again[split]["id"]
    assert _titles(first["validation"]) != _titles(other["validation"])
    assert _titles(first["train"]) != _titles(other["train"])


def test_split_none_means_the_rest_and_train_sets_nest(raw_articles):
    rest = load_squad_offline(SQUAD_JSON, train_articles=None, eval_articles=8, seed=3)
    assert len(_titles(rest["train"])) == 40 and len(_titles(rest["validation"])) == 8
    assert len(rest["train"]) + len(rest["validation"]) == sum(raw_articles.values()) == 10570
    small = load_squad_offline(SQUAD_JSON, train_articles=5, eval_articles=8, seed=3)
    large = load_squad_offline(SQUAD_JSON, train_articles=20, eval_articles=8, seed=3)
    assert small["validation"]["id"] == large["validation"]["id"] == rest["validation"]["id"]
    assert _titles(small["train"]) < _titles(large["train"]) < _titles(rest["train"])
    eval_rest = load_squad_offline(SQUAD_JSON, train_articles=45, eval_articles=None, seed=3)
    assert len(_titles(eval_rest["validation"])) == 3


def _write(tmp_path: Path, data) -> str:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_split_errors_name_file_and_field(tmp_path):
    with pytest.raises(ValueError, match="missing.json: SQuAD json file not found"):
        load_squad_offline(str(tmp_path / "missing.json"), 1, 1, 0)
    with pytest.raises(ValueError, match="not valid JSON"):
        load_squad_offline(_write(tmp_path, "{oops"), 1, 1, 0)
    paragraph = {"qas": [{"id": "1", "question": "q?", "answers": []}]}  # no "context"
    path = _write(tmp_path, {"data": [{"title": "T", "paragraphs": [paragraph]}]})
    with pytest.raises(ValueError, match=r"squad\.json: .*'data\[0\]\.paragraphs\[0\]\.context'"):
        load_squad_offline(path, 1, 1, 0)
    empty = {"title": "Empty", "paragraphs": []}
    full = {"title": "Full", "paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", "answers": []}]}]}
    path = _write(tmp_path, {"data": [empty, full]})
    with pytest.raises(ValueError, match="has no questions"):
        load_squad_offline(path, 1, 1, 0)
    with pytest.raises(ValueError, match="fewer than"):
        load_squad_offline(SQUAD_JSON, 40, 9, 0)
    with pytest.raises(ValueError, match="both be None"):
        load_squad_offline(SQUAD_JSON, None, None, 0)
    with pytest.raises(ValueError, match="too few"):
        load_squad_offline(SQUAD_JSON, 48, None, 0)


# --------------------------------------------------------------------------------------------------------- features
FILLER = " ".join(f"Record {i} says the harbour of town {i} was rebuilt in {1800 + i}." for i in range(1, 19))
CONTEXT = f"The observatory was founded by Giovanni Cassini. {FILLER} The last bridge was painted bright orange."


def _examples() -> dict[str, list]:
    """Four questions on one long context: answer early, in the middle, at the very end, and none (v2)."""
    answers = {"early": "Giovanni Cassini", "middle": "harbour of town 9", "late": "bright orange"}
    rows = {"id": [], "question": [], "context": [], "answers": []}
    for qid, text in answers.items():
        rows["id"].append(qid)
        rows["question"].append(f"  What is the {qid} answer?")
        rows["context"].append(CONTEXT)
        rows["answers"].append({"text": [text], "answer_start": [CONTEXT.index(text)]})
    rows["id"].append("none")
    rows["question"].append("Who painted the moon?")
    rows["context"].append(CONTEXT)
    rows["answers"].append({"text": [], "answer_start": []})
    return rows


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def _windows(validation: dict, i: int) -> tuple[int, int]:
    """Character range of the context slice inside window i."""
    spans = [o for o in validation["offset_mapping"][i] if o is not None]
    return spans[0][0], spans[-1][1]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_train_positions_map_back_to_the_answer_or_cls(padding_side):
    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR, padding_side=padding_side)
    examples = _examples()
    train = prepare_train_features(examples, tok, MAX_LENGTH, STRIDE)
    valid = prepare_validation_features(examples, tok, MAX_LENGTH, STRIDE)  # same windows, with offsets
    assert len(train["input_ids"]) == len(valid["example_id"]) > 4 * 4
    inside = outside = 0
    cls_indices = set()
    for i, example_id in enumerate(valid["example_id"]):
        assert len(train["input_ids"][i]) == MAX_LENGTH
        row = examples["id"].index(example_id)
        start, end = train["start_positions"][i], train["end_positions"][i]
        low, high = _windows(valid, i)
        gold = examples["answers"][row]
        if gold["text"] and low <= gold["answer_start"][0] and gold["answer_start"][0] + len(gold["text"][0]) <= high:
            offsets = valid["offset_mapping"][i]
            assert CONTEXT[offsets[start][0] : offsets[end][1]] == gold["text"][0]
            inside += 1
        else:
            assert start == end == train["input_ids"][i].index(tok.cls_token_id)
            cls_indices.add(start)
            outside += 1
    assert inside >= 3 and outside > inside
    # Right padding keeps CLS first; left padding shifts it behind the pad tokens of the last, shorter window.
    assert (cls_indices == {0}) == (padding_side == "right")


def test_long_context_gives_windows_overlapping_by_stride(tokenizer):
    valid = prepare_validation_features(_examples(), tokenizer, MAX_LENGTH, STRIDE)
    windows = [i for i, e in enumerate(valid["example_id"]) if e == "late"]
    assert len(windows) >= 4
    context_offsets = [[o for o in valid["offset_mapping"][i] if o is not None] for i in windows]
    for previous, following in zip(context_offsets, context_offsets[1:]):
        assert previous[-STRIDE:] == following[:STRIDE]
        assert following[STRIDE][0] > previous[-1][0]  # and the window moves on
    assert context_offsets[0][0][0] == 0 and context_offsets[-1][-1][1] == len(CONTEXT)


def test_validation_offsets_are_none_outside_the_context(tokenizer):
    valid = prepare_validation_features(_examples(), tokenizer, MAX_LENGTH, STRIDE)
    for ids, types, offsets in zip(valid["input_ids"], valid["token_type_ids"], valid["offset_mapping"]):
        tokens = tokenizer.convert_ids_to_tokens(ids)
        for token, segment, offset in zip(tokens, types, offsets):
            if offset is None:
                assert segment == 0 or token in tokenizer.all_special_tokens
            else:
                assert segment == 1 and token.removeprefix("##") == CONTEXT[offset[0] : offset[1]].lower()


def test_real_squad_windows_recover_gold_text(tokenizer):
    rows = load_squad_offline(SQUAD_JSON, train_articles=2, eval_articles=1, seed=0)["train"].select(range(60))
    train = build_train_features(rows, tokenizer, 128, 32)
    valid = build_validation_features(rows, tokenizer, 128, 32)
    by_id = {r["id"]: r for r in rows}
    found = set()
    for feature, window in zip(train, valid):
        row = by_id[window["example_id"]]
        if feature["start_positions"] != 0:
            offsets = window["offset_mapping"]
            span = row["context"][offsets[feature["start_positions"]][0] : offsets[feature["end_positions"]][1]]
            assert span == row["answers"]["text"][0]
            found.add(row["id"])
    assert found == set(by_id) and len(train) > len(rows)  # every answer lies whole in at least one window


def test_stride_must_be_smaller_than_window(tokenizer):
    with pytest.raises(ValueError, match="doc_stride"):
        prepare_train_features(_examples(), tokenizer, 64, 64)


# ----------------------------------------------------------------------------------------------------- postprocess
def _token_span(offsets, start_char: int, end_char: int) -> tuple[int, int] | None:
    starts = [k for k, o in enumerate(offsets) if o is not None and o[0] == start_char]
    ends = [k for k, o in enumerate(offsets) if o is not None and o[1] == end_char]
    return (starts[0], ends[0]) if starts and ends else None


def _peaked_logits(valid: dict, peaks: dict[str, tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Logits 0 everywhere, with `height` at the start and end tokens of text in every window that holds it."""
    n = len(valid["input_ids"])
    start_logits, end_logits = np.zeros((n, MAX_LENGTH)), np.zeros((n, MAX_LENGTH))
    for i, example_id in enumerate(valid["example_id"]):
        if example_id in peaks:
            text, height = peaks[example_id]
            span = _token_span(valid["offset_mapping"][i], CONTEXT.index(text), CONTEXT.index(text) + len(text))
            if span is not None:
                start_logits[i, span[0]] += height
                end_logits[i, span[1]] += height
    return start_logits, end_logits


def test_postprocess_recovers_gold_from_peaked_logits(tokenizer):
    examples = _examples()
    valid = prepare_validation_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    gold = {qid: a["text"][0] for qid, a in zip(examples["id"], examples["answers"]) if a["text"]}
    start_logits, end_logits = _peaked_logits(valid, {qid: (text, 5.0) for qid, text in gold.items()})
    predictions = postprocess_predictions(examples, valid, start_logits, end_logits)
    assert set(predictions) == set(examples["id"])
    for qid, text in gold.items():
        assert predictions[qid] == text
    assert compute_squad({q: predictions[q] for q in gold}, {q: [t] for q, t in gold.items()})["exact_match"] == 100


def test_postprocess_picks_answer_found_only_in_second_window(tokenizer):
    examples = {"id": ["q"], "question": ["Which town?"], "context": [CONTEXT], "answers": [None]}
    valid = prepare_validation_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    spans = [_windows(valid, i) for i in range(len(valid["example_id"]))]

    def holders(text: str) -> list[int]:
        start = CONTEXT.index(text)
        return [i for i, (low, high) in enumerate(spans) if low <= start and start + len(text) <= high]

    decoy = "Giovanni Cassini"
    target = next(f"harbour of town {k}" for k in range(1, 19) if holders(f"harbour of town {k}") == [1])
    assert holders(decoy) == [0]
    start_logits, end_logits = _peaked_logits(valid, {"q": (decoy, 3.0)})
    window_1 = _peaked_logits(valid, {"q": (target, 4.0)})
    start_logits[1], end_logits[1] = window_1[0][1], window_1[1][1]
    assert postprocess_predictions(examples, valid, start_logits, end_logits) == {"q": target}
    start_logits[1] -= 2.0 * (start_logits[1] > 0)  # now the first window's decoy scores higher (6 > 4)
    assert postprocess_predictions(examples, valid, start_logits, end_logits) == {"q": decoy}


def test_postprocess_respects_validity_rules(tokenizer):
    examples = {"id": ["q"], "question": ["Which town?"], "context": [CONTEXT], "answers": [None]}
    valid = prepare_validation_features(examples, tokenizer, 64, 16)
    valid = {k: v[:1] for k, v in valid.items()}  # one window: "The observatory was founded by ..."
    offsets = valid["offset_mapping"][0]
    first = next(k for k, o in enumerate(offsets) if o is not None)
    start_logits, end_logits = np.zeros((1, 64)), np.zeros((1, 64))
    # Context tokens: first = "the", +1 "observatory", +2 "was", +3 "founded".
    start_logits[0, 1] = end_logits[0, 2] = 100.0  # question tokens (offset None): never an answer (200)
    start_logits[0, first + 3] = 60.0  # with end_logits[first + 1] an end-before-start pair (110): invalid
    end_logits[0, first + 1] = 50.0
    start_logits[0, first] = 20.0  # best valid pair: first .. first+1 = 70
    end_logits[0, first + 3] = 1.0  # puts "founded" among the end candidates too
    assert postprocess_predictions(examples, valid, start_logits, end_logits)["q"] == "The observatory"
    # One token at most: "founded" alone (61) is the best single-token span among the candidates.
    assert postprocess_predictions(examples, valid, start_logits, end_logits, max_answer_length=1)["q"] == "founded"
    # n_best=1 only pairs the single best start and end - both question tokens - so nothing valid is left.
    assert postprocess_predictions(examples, valid, start_logits, end_logits, n_best=1)["q"] == ""
    assert postprocess_predictions(examples, valid, start_logits, end_logits, n_best=3)["q"] == "The observatory"
    with pytest.raises(ValueError, match="logit rows"):
        postprocess_predictions(examples, valid, start_logits[:0], end_logits)


def test_postprocess_version_2_null_answer(tokenizer):
    examples = {"id": ["q"], "question": ["Which town?"], "context": [CONTEXT], "answers": [None]}
    valid = prepare_validation_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    start_logits, end_logits = _peaked_logits(valid, {"q": ("bright orange", 4.0)})  # best span: 8
    start_logits[:, 0] = end_logits[:, 0] = 5.0  # null score 10 in every window
    assert postprocess_predictions(examples, valid, start_logits, end_logits, version_2=True) == {"q": ""}
    assert postprocess_predictions(examples, valid, start_logits, end_logits) == {"q": "bright orange"}  # v1
    kept = postprocess_predictions(examples, valid, start_logits, end_logits, version_2=True, null_threshold=2.5)
    assert kept == {"q": "bright orange"}  # 10 - 8 = 2 is not above 2.5
    start_logits[-1, 0] = end_logits[-1, 0] = 1.0  # one window sure there is an answer: the smallest null decides
    assert postprocess_predictions(examples, valid, start_logits, end_logits, version_2=True) == {"q": "bright orange"}


def test_tiny_model_end_to_end(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=len(tokenizer)
    )
    model = BertForQuestionAnswering(config).eval()
    examples = _examples()
    train = prepare_train_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    batch = {k: torch.tensor(v) for k, v in train.items()}
    loss = model(**batch).loss
    assert torch.isfinite(loss) and loss.item() > 0
    valid = prepare_validation_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    inputs = {k: torch.tensor(valid[k]) for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        output = model(**inputs)
    predictions = postprocess_predictions(
        examples, valid, output.start_logits.numpy(), output.end_logits.numpy(), version_2=True
    )
    assert set(predictions) == set(examples["id"]) and all(p in CONTEXT for p in predictions.values())
    references = {qid: a["text"] for qid, a in zip(examples["id"], examples["answers"])}
    scores = compute_squad(predictions, references, version_2=True)
    assert 0.0 <= scores["f1"] <= 100.0 and scores["HasAns_total"] == 3 and scores["NoAns_total"] == 1
