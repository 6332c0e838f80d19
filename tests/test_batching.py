"""Length-grouped training batches and length-sorted prediction: less padding, the same rows, the same outputs.

The sampler must still see every row once per epoch in an order fixed by the seed and the epoch alone (the same for
every method of a seed, independent of the global RNG); prediction must return each row's own logits in the
dataset's order.
"""
import random

import datasets
import numpy as np
import pytest
import torch

from swa_study.batching import SeededLengthGroupedSampler, length_sorted_batches
from swa_study.methods import build_method
from swa_study.models import load_for_training
from swa_study.study.tasks import builtin_task
from swa_study.prediction import model_columns, predict_logits
from swa_study.training import TrainSettings, train_model, training_arguments
from test_protocol import BatchSpy
from tiny_study import build_model

SST2 = builtin_task("sst2")
WORDS = ["good", "bad", "film", "plot", "cast", "very", "not", "quite", "the", "a", "story", "ending"]


def padded_tokens(order: list[int], lengths: list[int], batch_size: int) -> int:
    """What the collator computes: each batch padded to its longest row."""
    return sum(max(lengths[i] for i in order[s:s + batch_size]) * len(order[s:s + batch_size])
               for s in range(0, len(order), batch_size))


def test_sampler_visits_every_row_once_with_an_order_fixed_by_seed_and_epoch():
    lengths = [random.Random(i).randint(3, 60) for i in range(200)]
    sampler = SeededLengthGroupedSampler(lengths, batch_size=8, seed=5)
    first = list(sampler)
    assert sorted(first) == list(range(200)) and len(sampler) == 200
    torch.manual_seed(123)  # the global RNG plays no part
    assert list(SeededLengthGroupedSampler(lengths, batch_size=8, seed=5)) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(second) == list(range(200)) and second != first
    assert list(SeededLengthGroupedSampler(lengths, batch_size=8, seed=6)) != first


def test_grouped_batches_pad_far_less_than_shuffled_ones():
    lengths = [random.Random(i).randint(3, 60) for i in range(400)]
    grouped = list(SeededLengthGroupedSampler(lengths, batch_size=16, seed=0))
    shuffled = torch.randperm(400, generator=torch.Generator().manual_seed(0)).tolist()
    assert padded_tokens(grouped, lengths, 16) < 0.7 * padded_tokens(shuffled, lengths, 16)
    assert padded_tokens(grouped, lengths, 16) < 1.25 * sum(lengths)  # little padding left (shuffled: 1.8x)


def test_length_sorted_batches_cover_every_row_longest_first_and_stable():
    batches = length_sorted_batches([3, 9, 3, 7, 9, 1], batch_size=4)
    assert [b.tolist() for b in batches] == [[1, 4, 3, 0], [2, 5]]


@pytest.fixture
def varied_rows(tmp_path):
    """A tiny classifier and 80 tokenised rows of 1 to 25 words, in no particular order of length."""
    build_model(tmp_path / "tiny", layers=1, seed=0)
    model, tokenizer = load_for_training(str(tmp_path / "tiny"), SST2, seed=0)
    rng = random.Random(0)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25))) for _ in range(80)]
    encoded = tokenizer(sentences, truncation=True, max_length=32)
    rows = datasets.Dataset.from_dict({**encoded, "label": [rng.randint(0, 1) for _ in sentences],
                                       "idx": list(range(len(sentences)))})
    return model, tokenizer, rows


def test_sorted_prediction_returns_each_rows_own_logits_in_dataset_order(varied_rows):
    model, tokenizer, rows = varied_rows
    model.eval()
    with torch.no_grad():  # a random-init head scores every row alike; a large one tells the rows apart
        model.classifier.weight.normal_(0, 100, generator=torch.Generator().manual_seed(0))
    logits = predict_logits(model, rows, tokenizer, batch_size=8)
    with torch.no_grad():  # one row at a time: no padding, no batching, the plain truth
        alone = np.concatenate([model(**{k: torch.tensor([rows[i][k]]) for k in ("input_ids", "attention_mask",
                                                                                 "token_type_ids")}).logits.numpy()
                                for i in range(len(rows))])
    assert logits.shape == (80, 2)
    np.testing.assert_allclose(logits, alone, rtol=1e-5, atol=1e-4)
    assert np.abs(logits - logits[::-1]).max() > 0.1  # rows really differ, so order is being checked


def train_orders(method_name, model, tokenizer, rows, tmp_path, group_by_length, seed=3):
    """The rows (as token-id tuples) in the order training saw them, and the padded tokens it computed."""
    hp = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 4, "logging_steps": 1, "group_by_length": group_by_length}
    method = build_method(method_name, SST2, hp)
    spy = BatchSpy(method)
    args = training_arguments(TrainSettings.from_params(method.params, seed=seed), tmp_path / method_name)
    train_model(model, tokenizer, method, rows.select_columns(model_columns(rows)), args, tmp_path / "log.jsonl")
    order = [tuple(ids[mask.bool()].tolist()) for b in spy.batches
             for ids, mask in zip(b["input_ids"], b["attention_mask"])]
    return order, sum(b["input_ids"].numel() for b in spy.batches)


def test_trainer_groups_by_length_and_every_method_of_a_seed_sees_one_order(varied_rows, tmp_path):
    model, tokenizer, rows = varied_rows
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grouped, grouped_width = train_orders("finetune", model, tokenizer, rows, tmp_path, group_by_length=True)
    model.load_state_dict(state)
    swa_order, _ = train_orders("swa", model, tokenizer, rows, tmp_path, group_by_length=True)
    model.load_state_dict(state)
    shuffled, shuffled_width = train_orders("finetune", model, tokenizer, rows, tmp_path, group_by_length=False)
    every_row = [tuple(ids) for ids in rows["input_ids"]]
    assert sorted(grouped) == sorted(every_row * 2) and sorted(shuffled) == sorted(every_row * 2)
    assert swa_order == grouped  # the data order belongs to the seed, not to the method
    assert grouped[:80] != grouped[80:]  # a new order each epoch
    assert grouped_width < 0.8 * shuffled_width  # the padding the grouping saves
