"""Tests of the generation task family: metric, CommonGen loaders, BERT2BERT build/train/generate.

Models are tiny random-init BERTs built here (with the real offline WordPiece tokenizer), so the
whole file runs in well under a minute on CPU.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import evaluate
import pytest
import sacrebleu
import torch
from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration, BertConfig, BertModel

from swa_study.generation import (
    build_seq2seq,
    generate_texts,
    load_commongen_offline,
    load_generation_hub,
    tokenize_for_seq2seq,
)

REPO = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO / "workflow_scripts" / "swa_study" / "metric_modules" / "rouge_bleu_local"
ASSETS = REPO.parent / "shared" / "offline-assets"  # CI clones the repo with shared/ beside it
COMMONGEN = ASSETS / "commongen"
MINILM_L3 = ASSETS / "models" / "paraphrase-MiniLM-L3-v2"
MINILM_L6 = ASSETS / "models" / "all-MiniLM-L6-v2"
ROWS = {
    "concepts": ["dog run park", "cat sleep sofa", "kid play ball", "man cook food"],
    "target": ["A dog runs in the park.", "The cat sleeps on the sofa.", "Kids play with a ball.", "A man cooks food."],
}


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Run torch single-threaded here: tiny models gain nothing from intra-op threads, and on a busy
    2-core machine thread oversubscription made the training test ~8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR))


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(MINILM_L3)


def _save_tiny_bert(folder: Path, tokenizer, seed: int = 0, vocab_size: int | None = None) -> Path:
    """Save a tiny random BertModel plus the real tokenizer, like a pretrained checkpoint folder."""
    config = BertConfig(
        vocab_size=vocab_size or tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------- metric


def test_identical_prediction_scores_100(metric):
    texts = ["a dog runs in the park today", "the cat sleeps on the warm sofa"]
    scores = metric.compute(predictions=texts, references=[[t] for t in texts])
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "bleu"}
    for value in scores.values():
        assert value == pytest.approx(100.0)


def test_rouge1_hand_computed(metric):
    # "the cat sat on the mat" vs "the cat is on the mat": 5 of 6 unigrams shared -> P = R = F = 5/6.
    # "a dog runs" vs "the dog runs in the park": 2 shared, P = 2/3, R = 2/6 -> F = 4/9.
    scores = metric.compute(
        predictions=["the cat sat on the mat", "a dog runs"],
        references=[["the cat is on the mat"], ["the dog runs in the park"]],
    )
    assert scores["rouge1"] == pytest.approx(100 * (5 / 6 + 4 / 9) / 2)
    # ROUGE-2: bigrams {the cat, on the, the mat} shared of 5 each -> 3/5; {dog runs}: P = 1/2, R = 1/5 -> 2/7.
    assert scores["rouge2"] == pytest.approx(100 * (3 / 5 + 2 / 7) / 2)


def test_bleu_equals_sacrebleu_with_transposed_streams(metric):
    predictions = ["a dog runs in the park", "the cat is sleeping on a sofa", "kids are playing with a red ball"]
    references = [
        ["a dog is running in the park", "the dog runs through a park"],
        ["a cat sleeps on the sofa"],
        ["the kids play with a ball", "children playing with a red ball", "a kid plays ball"],
    ]
    streams = [
        ["a dog is running in the park", "a cat sleeps on the sofa", "the kids play with a ball"],
        ["the dog runs through a park", None, "children playing with a red ball"],
        [None, None, "a kid plays ball"],
    ]
    expected = sacrebleu.corpus_bleu(predictions, streams).score
    assert 0 < expected < 100
    assert metric.compute(predictions=predictions, references=references)["bleu"] == pytest.approx(expected)
    # Only the first reference of each item gives a different (lower) score: all references are used.
    first_only = sacrebleu.corpus_bleu(predictions, streams[:1]).score
    assert first_only < expected


def test_multi_reference_takes_best_reference_per_prediction(metric):
    prediction = ["a dog runs"]
    best = metric.compute(predictions=prediction, references=[["a dog runs fast"]])
    both = metric.compute(predictions=prediction, references=[["the cat sleeps", "a dog runs fast"]])
    # Against "a dog runs fast": P = 1, R = 3/4 -> F = 6/7; the unrelated reference scores 0.
    assert both["rouge1"] == pytest.approx(100 * 6 / 7)
    assert both["rouge1"] == pytest.approx(best["rouge1"])  # max, not the mean (which would be 3/7)
    assert both["rougeL"] == pytest.approx(best["rougeL"])
    swapped = metric.compute(predictions=prediction, references=[["a dog runs fast", "the cat sleeps"]])
    assert swapped == pytest.approx(both)  # independent of reference order


def test_metric_rejects_missing_references(metric):
    with pytest.raises(ValueError, match="no references"):
        metric.compute(predictions=["a dog"], references=[[]])
    with pytest.raises(ValueError, match="empty reference"):
        metric.compute(predictions=["a dog"], references=[["a dog", " "]])
    with pytest.raises(ValueError):
        metric.compute(predictions=["a dog", "a cat"], references=[["a dog"]])


def test_metric_loads_offline(tmp_path):
    code = (
        "import evaluate;"
        f"m = evaluate.load({str(METRIC_DIR)!r});"
        "print(m.compute(predictions=['a b c d e'], references=[['a b c d e', 'x']])['bleu'])"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_EVALUATE_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(100.0)


# ---------------------------------------------------------------- data


def test_offline_loader_sizes_and_grouping():
    data = load_commongen_offline(str(COMMONGEN), None, None, seed=0)
    source_lines = (COMMONGEN / "commongen.dev.src_alpha.txt").read_text().splitlines()
    assert data["train"].num_rows == len((COMMONGEN / "commongen.train.src_alpha.txt").read_text().splitlines())
    assert data["train"].column_names == ["concepts", "target"]
    jsonl = [json.loads(line) for line in (COMMONGEN / "commongen.dev.jsonl").read_text().splitlines()]
    validation = data["validation"]
    assert validation.num_rows == len(set(source_lines)) == len(jsonl) == 993
    assert sum(len(refs) for refs in validation["references"]) == len(source_lines)
    assert validation[0]["concepts"] == "field stand look"
    # Same sets, same order, same sentences (the loader strips the trailing spaces some references carry).
    assert validation["references"] == [[ref.strip() for ref in record["scene"]] for record in jsonl]
    from_jsonl = load_commongen_offline(str(COMMONGEN), 5, None, seed=0, validation_source="jsonl")
    assert from_jsonl["validation"][0]["concepts"] == "field look stand"
    assert from_jsonl["validation"]["references"] == validation["references"]


def test_offline_loader_subsample_is_seeded_subset():
    first = load_commongen_offline(str(COMMONGEN), 50, 7, seed=13)
    again = load_commongen_offline(str(COMMONGEN), 50, 7, seed=13)
    other = load_commongen_offline(str(COMMONGEN), 50, 7, seed=14)
    assert (first["train"].num_rows, first["validation"].num_rows) == (50, 7)
    assert first["train"].to_list() == again["train"].to_list()
    assert first["validation"].to_list() == again["validation"].to_list()
    assert first["train"].to_list() != other["train"].to_list()
    sources = (COMMONGEN / "commongen.train.src_alpha.txt").read_text().splitlines()
    targets = (COMMONGEN / "commongen.train.tgt.txt").read_text().splitlines()
    line_of = {(s, t): number for number, (s, t) in enumerate(zip(sources, targets))}
    lines = [line_of[(row["concepts"], row["target"])] for row in first["train"]]  # KeyError if not a real pair
    assert lines == sorted(lines)  # file order kept
    with pytest.raises(ValueError, match="eval_sets"):
        load_commongen_offline(str(COMMONGEN), 10, 10_000, seed=0)


def _write_split(folder: Path, stem: str, sources: list[str], targets: list[str]) -> None:
    (folder / f"commongen.{stem}.src_alpha.txt").write_text("".join(line + "\n" for line in sources))
    (folder / f"commongen.{stem}.tgt.txt").write_text("".join(line + "\n" for line in targets))


def test_offline_loader_errors_name_the_file(tmp_path):
    _write_split(tmp_path, "train", ["dog run", "cat sit"], ["A dog runs.", "A cat sits."])
    cases = [
        (lambda: None, "commongen.dev.src_alpha.txt"),  # dev files missing
        (lambda: _write_split(tmp_path, "dev", ["dog run", "dog run"], ["A dog runs."]), "commongen.dev.tgt.txt"),
        (lambda: _write_split(tmp_path, "dev", [], []), "commongen.dev.src_alpha.txt"),  # empty files
    ]
    for prepare, name in cases:
        prepare()
        with pytest.raises(ValueError) as error:
            load_commongen_offline(str(tmp_path), None, None, seed=0)
        assert name in str(error.value) and "\n" not in str(error.value)
    _write_split(tmp_path, "dev", ["dog run", "dog run"], ["A dog runs.", "Dogs run."])
    data = load_commongen_offline(str(tmp_path), None, None, seed=0)
    assert data["validation"].to_list() == [{"concepts": "dog run", "references": ["A dog runs.", "Dogs run."]}]
    with pytest.raises(ValueError, match="commongen.test.src_alpha.txt"):
        load_commongen_offline(str(tmp_path), None, None, seed=0, include_test=True)
    _write_split(tmp_path, "test", ["cat sit", "cat sit", "cat eat"], ["A cat sits.", "Cats sit.", "A cat eats."])
    test = load_commongen_offline(str(tmp_path), None, None, seed=0, include_test=True)["test"]
    assert test["references"] == [["A cat sits.", "Cats sit."], ["A cat eats."]]


def test_load_generation_hub_passes_through(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"concepts": "dog run", "target": "A dog runs."}\n')
    data = load_generation_hub("json", None, data_files={"train": str(path)})
    assert data["train"][0] == {"concepts": "dog run", "target": "A dog runs."}


def test_tokenize_for_seq2seq_labels(tokenizer):
    batch = tokenize_for_seq2seq(ROWS, tokenizer, 8, 10, decoder_start_token_id=tokenizer.cls_token_id)
    assert [len(ids) for ids in batch["input_ids"]] == [8] * 4
    assert all(len(labels) == 10 for labels in batch["labels"])
    first = batch["labels"][0]
    real = [token for token in first if token != -100]
    assert real == tokenizer("A dog runs in the park.", add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    assert first[len(real):] == [-100] * (10 - len(real))
    kept = tokenize_for_seq2seq(ROWS, tokenizer, 8, 4, pad_to_max_length=False)  # truncated, [CLS] kept
    assert kept["labels"][0][0] == tokenizer.cls_token_id and len(kept["labels"][0]) == 4
    assert len(kept["input_ids"][2]) < 8 and -100 not in kept["labels"][2]


# ---------------------------------------------------------------- models


def test_bert2bert_trains_and_generates(tmp_path, tokenizer):
    model, tok = build_seq2seq(str(_save_tiny_bert(tmp_path / "tiny", tokenizer)))
    config = model.config
    assert (config.decoder_start_token_id, config.eos_token_id, config.pad_token_id) == (101, 102, 0)
    assert config.vocab_size == tokenizer.vocab_size
    assert model.generation_config.decoder_start_token_id == 101 and model.generation_config.eos_token_id == 102
    assert config.decoder.is_decoder and config.decoder.add_cross_attention
    assert model.decoder.get_input_embeddings() is model.encoder.get_input_embeddings()
    assert model.decoder.get_output_embeddings().weight is model.encoder.get_input_embeddings().weight
    pretrained = BertModel.from_pretrained(tmp_path / "tiny")
    query = "encoder.layer.1.attention.self.query.weight"
    assert torch.equal(model.encoder.state_dict()[query], pretrained.state_dict()[query])
    assert torch.equal(model.decoder.bert.state_dict()[query], pretrained.state_dict()[query])

    untrained = generate_texts(model, tok, ROWS["concepts"], num_beams=2, max_new_tokens=3, batch_size=3)
    assert len(untrained) == 4 and all(isinstance(text, str) for text in untrained)
    assert all(len(tok(text, add_special_tokens=False)["input_ids"]) <= 3 for text in untrained)

    batch = {key: torch.tensor(value) for key, value in tokenize_for_seq2seq(
        ROWS, tok, 16, 16, decoder_start_token_id=config.decoder_start_token_id).items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(60):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[19] < 0.6 * losses[0] and sum(losses[15:20]) < sum(losses[:5])
    assert losses[-1] < 0.5

    generated = generate_texts(model, tok, ROWS["concepts"], num_beams=2, max_new_tokens=12, batch_size=3)
    assert model.training  # mode restored
    as_ids = [tok(text, add_special_tokens=False)["input_ids"] for text in generated]
    assert as_ids == [tok(text, add_special_tokens=False)["input_ids"] for text in ROWS["target"]]

    model.save_pretrained(tmp_path / "trained")
    tok.save_pretrained(tmp_path / "trained")
    reloaded, reloaded_tok = build_seq2seq(str(tmp_path / "trained"))
    assert reloaded.decoder.get_input_embeddings() is reloaded.encoder.get_input_embeddings()
    model.eval()
    reloaded.eval()
    with torch.no_grad():
        assert torch.allclose(model(**batch).loss, reloaded(**batch).loss)
    assert generate_texts(reloaded, reloaded_tok, ROWS["concepts"], 2, 12, 4) == generated


def test_warm_start_from_offline_minilm_checkpoints():
    model, _ = build_seq2seq(str(MINILM_L3))
    pretrained = BertModel.from_pretrained(MINILM_L3).state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.2.output.dense.weight"):
        assert torch.equal(model.encoder.state_dict()[name], pretrained[name])
        assert torch.equal(model.decoder.bert.state_dict()[name], pretrained[name])
    assert model.decoder.get_input_embeddings() is model.encoder.get_input_embeddings()
    mixed, _ = build_seq2seq(str(MINILM_L3), str(MINILM_L6))  # different embeddings: left unshared
    assert mixed.config.decoder.num_hidden_layers == 6
    assert mixed.decoder.get_input_embeddings() is not mixed.encoder.get_input_embeddings()


def test_build_seq2seq_native_and_invalid(tmp_path, tokenizer):
    bart = BartConfig(vocab_size=tokenizer.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
                      encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                      max_position_embeddings=32)
    BartForConditionalGeneration(bart).save_pretrained(tmp_path / "bart")
    tokenizer.save_pretrained(tmp_path / "bart")
    model, _ = build_seq2seq(str(tmp_path / "bart"))
    assert isinstance(model, BartForConditionalGeneration)
    assert model.generation_config.decoder_start_token_id == bart.decoder_start_token_id
    with pytest.raises(ValueError):
        build_seq2seq(str(tmp_path / "bart"), str(tmp_path / "bart"))
    encoder = _save_tiny_bert(tmp_path / "enc", tokenizer)
    decoder = _save_tiny_bert(tmp_path / "dec", tokenizer, vocab_size=100)
    with pytest.raises(ValueError, match="vocabulary"):
        build_seq2seq(str(encoder), str(decoder))
