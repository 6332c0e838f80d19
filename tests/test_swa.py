"""SWA (Lu et al. 2022, Algorithm 1): the schedule, when weights are collected, and what the average is."""
import copy

import pytest
import torch
from transformers import TrainerCallback

from swa_study.methods import build_method
from swa_study.methods.swa import SWACollector, averaging_lr_factor, collection_steps
from swa_study.schedules import warmup_linear_decay
from swa_study.study.tasks import builtin_task as get_task
from swa_study.training import TrainSettings, train_model, training_arguments


def swa(total=100, steps_per_epoch=20, **params):
    method = build_method("swa", get_task("sst2"), {"learning_rate": 1e-3, "warmup_ratio": 0.06, **params})
    method.start(total, steps_per_epoch)
    return method


def test_lr_is_constant_from_swa_start_and_decays_before():
    method = swa(swa_start=0.5, swa_lr=8e-4)
    factors = [method.lr_factor(s) for s in range(100)]
    assert factors[:50] == [warmup_linear_decay(s, 100, 6) for s in range(50)]
    assert factors[50:] == pytest.approx([0.8] * 50)
    assert factors[0] == pytest.approx(1 / 6) and factors[5] == pytest.approx(1.0)
    assert factors[6] > factors[49]  # linear decay between warm-up and the averaging phase


def test_default_k_is_a_quarter_epoch_and_collection_starts_at_swa_start():
    method = swa(total=100, steps_per_epoch=20, swa_start=0.5)
    assert method.every_steps == 5 and method.collections == list(range(50, 101, 5))
    assert swa(total=90, steps_per_epoch=30, swa_start=0.5).collections == [45, 52, 59, 66, 73, 80, 87]


def test_per_epoch_averaging_collects_the_start_then_every_epoch_end():
    assert collection_steps(100, 50, 5, per_epoch=True, steps_per_epoch=20) == [50, 60, 80, 100]
    assert collection_steps(95, 40, 5, per_epoch=True, steps_per_epoch=20) == [40, 60, 80, 95]  # last epoch short
    assert swa(total=100, steps_per_epoch=20, swa_every="epoch", swa_start=0.75).collections == [75, 80, 100]


def test_cyclic_lr_falls_linearly_within_each_cycle_to_its_minimum_at_the_collection():
    method = swa(total=40, steps_per_epoch=16, swa_start=0.5, swa_schedule="cyclic", swa_lr=1e-3, swa_lr_min=2e-4,
                 swa_every_steps=4)
    assert method.collections == [20, 24, 28, 32, 36, 40]
    cycle = [method.lr_factor(s) for s in range(20, 24)]  # the 4 updates between collections 20 and 24
    assert cycle == pytest.approx([0.8, 0.6, 0.4, 0.2])  # Izmailov: (1 - t) 1.0 + t 0.2, t = 1/4 .. 4/4
    assert [method.lr_factor(s) for s in range(24, 28)] == pytest.approx(cycle)
    assert swa(total=40, steps_per_epoch=16, swa_schedule="cyclic", swa_every_steps=4).low == pytest.approx(0.1)


def test_averaging_lr_factor_is_constant_unless_cyclic():
    assert averaging_lr_factor(33, [20, 30, 40], 10, 2.0, 0.1, cyclic=False) == 2.0
    assert averaging_lr_factor(39, [20, 30, 40], 10, 2.0, 0.1, cyclic=True) == pytest.approx(0.1)
    assert averaging_lr_factor(40, [20, 30, 40], 10, 2.0, 0.1, cyclic=True) == pytest.approx(0.9 * 2.0 + 0.1 * 0.1)


class FakeState:
    def __init__(self, step):
        self.global_step = step


def test_collector_running_mean_equals_mean_of_collected_weights():
    model = torch.nn.Linear(3, 2)
    collector = SWACollector()
    collector.steps = set(collection_steps(13, 4, 3, per_epoch=False, steps_per_epoch=13))
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
    collector = SWACollector()
    collector.steps = set(collection_steps(2, 0, 2, per_epoch=False, steps_per_epoch=2))
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
