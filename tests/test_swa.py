"""SWA (Lu et al. 2022, Algorithm 1): the schedule, when weights are collected, and what the average is."""
import copy

import pytest
import torch
from transformers import TrainerCallback

from swa_study.methods import build_method
from swa_study.methods.swa import SWACollector
from swa_study.schedules import swa_constant_after_start, warmup_linear_decay
from swa_study.tasks import get_task
from swa_study.training import TrainSettings, train_model, training_arguments


def test_lr_is_constant_from_swa_start_and_decays_before():
    total, warmup, start = 100, 6, 50
    factors = [swa_constant_after_start(s, total, warmup, start, 0.8) for s in range(total)]
    assert factors[:start] == [warmup_linear_decay(s, total, warmup) for s in range(start)]
    assert set(factors[start:]) == {0.8}
    assert factors[0] == pytest.approx(1 / 6) and factors[5] == pytest.approx(1.0)
    assert factors[6] > factors[49]  # linear decay between warm-up and the averaging phase


class FakeState:
    def __init__(self, step):
        self.global_step = step


def test_collector_running_mean_equals_mean_of_collected_weights():
    model = torch.nn.Linear(3, 2)
    collector = SWACollector(start_step=4, every_steps=3)
    snapshots = {}
    for step in range(0, 14):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn_like(p))
        snapshots[step] = copy.deepcopy(model.state_dict())
        if step == 0:
            collector.on_train_begin(None, FakeState(step), None, model=model)
        else:
            collector.on_step_end(None, FakeState(step), None, model=model)
    assert collector.collected_steps == [4, 7, 10, 13]
    for name, averaged in collector.averaged.module.state_dict().items():
        expected = torch.stack([snapshots[s][name] for s in collector.collected_steps]).mean(0)
        torch.testing.assert_close(averaged, expected)


def test_collector_counts_the_initial_weights_when_averaging_starts_at_step_zero():
    model = torch.nn.Linear(2, 1)
    collector = SWACollector(start_step=0, every_steps=2)
    collector.on_train_begin(None, FakeState(0), None, model=model)
    collector.on_step_end(None, FakeState(1), None, model=model)
    collector.on_step_end(None, FakeState(2), None, model=model)
    assert collector.collected_steps == [0, 2]


class SnapshotEveryStep(TrainerCallback):
    """Records the live weights at the start and after every optimizer step."""

    def __init__(self):
        self.snapshots = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.snapshots[0] = copy.deepcopy(model.state_dict())

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.snapshots[state.global_step] = copy.deepcopy(model.state_dict())


def test_swa_training_saves_the_average_of_the_weights_collected_every_k_steps(tiny_classifier, tmp_path):
    model, tokenizer, train = tiny_classifier
    task = get_task("sst2")
    hp = {"epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "swa_start": 0.5, "swa_every_steps": 2}
    method = build_method("swa", task, hp)
    spy = SnapshotEveryStep()
    original_callbacks = method.callbacks
    method.callbacks = lambda: [*original_callbacks(), spy]
    args = training_arguments(TrainSettings.from_params(hp, seed=3), tmp_path / "trainer")
    facts = train_model(model, tokenizer, method, train, args, tmp_path / "log.jsonl")

    total = facts["optimizer_steps"]
    assert total == 3 * len(train) // 4
    start = round(0.5 * total)
    assert facts["swa_collected_steps"] == list(range(start, total + 1, 2))
    assert facts["swa_models_averaged"] == len(facts["swa_collected_steps"])
    for name, value in model.state_dict().items():
        if not value.is_floating_point():
            continue
        expected = torch.stack([spy.snapshots[s][name] for s in facts["swa_collected_steps"]]).mean(0)
        torch.testing.assert_close(value, expected)
    # the live weights of the last step differ from the average: the average really replaced them
    assert not torch.allclose(spy.snapshots[total]["classifier.weight"], model.state_dict()["classifier.weight"])


def test_swa_learning_rate_in_the_training_log_is_constant_after_start(tiny_classifier, tmp_path):
    import json

    model, tokenizer, train = tiny_classifier
    hp = {"epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "swa_start": 0.5, "swa_lr": 5e-4,
          "swa_every_steps": 2, "logging_steps": 1}
    method = build_method("swa", get_task("sst2"), hp)
    args = training_arguments(TrainSettings.from_params(hp, seed=3), tmp_path / "trainer")
    facts = train_model(model, tokenizer, method, train, args, tmp_path / "log.jsonl")
    start = facts["swa_start_step"]
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    lrs = {r["step"]: r["learning_rate"] for r in records if "learning_rate" in r}
    # the Trainer logs, at step s, the LR of the update that produced step s (the schedule's factor for s - 1)
    after_start = [lr for step, lr in lrs.items() if step > start]
    assert len(after_start) >= 3 and all(lr == pytest.approx(5e-4) for lr in after_start)
    assert all(lr != pytest.approx(5e-4) for step, lr in lrs.items() if 0 < step <= start)
