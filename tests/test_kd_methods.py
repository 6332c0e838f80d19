"""The distillation baselines: Annealing-KD's schedule and phases, RAIL-KD's layer draws and heads, MATE-KD's
adversarial steps, and SWA + KD's average. Tiny random-init BERTs throughout (tests/tiny_study.py)."""
import copy
import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from swa_study.methods import build_method
from swa_study.methods.annealing_kd import annealing_t
from swa_study.losses import forward_logits
from swa_study.methods.kd import kd_loss
from swa_study.methods.rail_kd import HEADS, RailProjections, sample_layers
from swa_study.study.tasks import builtin_task as get_task
from swa_study.models import load_for_training
from swa_study.prediction import PadCollator, predict_logits
from swa_study.training import TrainSettings, training_arguments
from test_swa import SnapshotEveryStep
from tiny_study import build_model

SST2 = get_task("sst2")


def with_teacher_logits(train, seed: int = 0):
    """The rows with a made-up `teacher_logits` column, as train_student.py attaches the cached ones."""
    logits = torch.randn(len(train), 2, generator=torch.Generator().manual_seed(seed)) * 3
    return train.add_column("teacher_logits", logits.tolist())


def run(method, model, tokenizer, train, tmp_path, hp, seed=3, heldout=None):
    args = training_arguments(TrainSettings.from_params(hp, seed=seed), tmp_path / "trainer")
    return method.train(model, tokenizer, train, args, tmp_path / "log.jsonl", heldout_dataset=heldout)


# --- Annealing-KD --------------------------------------------------------------------------------------------------

def test_annealing_t_rises_one_to_tau_max_in_equal_epoch_blocks():
    assert [annealing_t(e, 14, 7) for e in range(14)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # the paper's
    assert [annealing_t(e, 2, 2) for e in range(2)] == [1, 2]
    assert [annealing_t(e, 7, 7) for e in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    uneven = [annealing_t(e, 10, 4) for e in range(10)]
    assert uneven == sorted(uneven) and set(uneven) == {1, 2, 3, 4} and uneven[-1] == 4


class FixedLogits(torch.nn.Module):
    """A stand-in student whose logits are given."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, **inputs):
        return SimpleNamespace(logits=self.logits)


def test_annealing_loss_is_mse_to_scaled_teacher_in_phase_1_and_labels_only_in_phase_2():
    method = build_method("annealing_kd", SST2, {"phase1_epochs": 14, "tau_max": 7})
    student = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    model = FixedLogits(student)
    batch = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "labels": torch.tensor([1, 0]),
             "teacher_logits": torch.tensor([[7.0, -7.0], [0.0, 14.0]])}
    method.epochs.epoch = 4  # t = 3 of 7
    expected = F.mse_loss(student, batch["teacher_logits"] * 3 / 7)
    assert method.compute_loss(model, batch).item() == pytest.approx(expected.item())
    method.phase = 2
    assert method.compute_loss(model, batch).item() == pytest.approx(F.cross_entropy(student, batch["labels"]).item())


class PhaseSpy(TrainerCallback):
    """Weights at the end of each phase-1 epoch and when phase 2 begins."""

    def __init__(self, method):
        self.method, self.epoch_end, self.phase2_start = method, {}, None

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.method.phase == 1:
            self.epoch_end[round(state.epoch)] = copy.deepcopy(model.state_dict())

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.method.phase == 2:
            self.phase2_start = copy.deepcopy(model.state_dict())


def test_annealing_runs_two_phases_and_phase_2_starts_from_the_best_heldout_checkpoint(tiny_classifier, tmp_path,
                                                                                          monkeypatch):
    model, tokenizer, train = tiny_classifier
    hp = {"epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "logging_steps": 1,  # `epochs` does not apply
          "phase1_epochs": 2, "phase2_epochs": 1, "tau_max": 2}
    method = build_method("annealing_kd", SST2, hp)
    scores = iter([0.9, 0.5])  # held-out rows say epoch 1 is best: phase 2 must not continue from the last weights
    monkeypatch.setattr(method, "heldout_metrics", lambda prediction: {"accuracy": next(scores)})
    spy, seen = PhaseSpy(method), []
    monkeypatch.setattr(method, "callbacks", lambda: [method.epochs, spy])
    loss = method.compute_loss

    def recording_loss(model, batch):
        seen.append((method.phase, method.factor if method.phase == 1 else None, "teacher_logits" in batch))
        return loss(model, batch)

    monkeypatch.setattr(method, "compute_loss", recording_loss)
    facts = run(method, model, tokenizer, with_teacher_logits(train), tmp_path, hp, heldout=train.select(range(8)))

    assert (facts["phase1_steps"], facts["phase2_steps"], facts["optimizer_steps"]) == (12, 6, 18)
    assert facts["phase1_heldout_scores"] == [0.9, 0.5] and facts["phase1_best_epoch"] == 1
    assert facts["anneal_t_per_epoch"] == [1, 2]
    training = [s for s in seen if s[2]]  # (phase, factor) of every training batch, in order
    assert [s[:2] for s in training] == [(1, 0.5)] * 6 + [(1, 1.0)] * 6 + [(2, None)] * 6
    for name, value in spy.phase2_start.items():
        torch.testing.assert_close(value, spy.epoch_end[1][name])
    assert not torch.equal(spy.epoch_end[1]["classifier.weight"], spy.epoch_end[2]["classifier.weight"])
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == list(range(1, 19)) and all(r["phase"] in (1, 2) for r in records)
    assert {r["step"]: r["phase"] for r in records if "loss" in r} == {s: 1 if s <= 12 else 2 for s in steps}
    assert {r["anneal_t"] for r in records if r["phase"] == 1 and "loss" in r and r["step"] <= 6} == {1}


# --- RAIL-KD -------------------------------------------------------------------------------------------------------

def test_rail_layers_are_distinct_sorted_change_per_epoch_and_repeat_with_the_seed():
    draws = [sample_layers(12, 4, seed=7, epoch=e) for e in range(6)]
    for layers in draws:
        assert len(set(layers)) == 4 and layers == sorted(layers) and all(1 <= j <= 12 for j in layers)
    assert all(a != b for a, b in zip(draws, draws[1:]))
    assert draws == [sample_layers(12, 4, seed=7, epoch=e) for e in range(6)]
    assert draws != [sample_layers(12, 4, seed=8, epoch=e) for e in range(6)]
    assert sample_layers(3, 3, seed=1, epoch=0) == [1, 2, 3]
    with pytest.raises(ValueError, match="student has 4 layers, the teacher only 3"):
        sample_layers(3, 4, seed=0, epoch=0)


def test_rail_projection_loss_layerwise_and_concatenated():
    torch.manual_seed(0)
    student, teacher = [torch.randn(5, 8) for _ in range(2)], [torch.randn(5, 6) for _ in range(2)]
    layerwise, concat = RailProjections(8, 6, 2, 4, False), RailProjections(8, 6, 2, 4, True)
    assert (len(layerwise.student), layerwise.student[0].in_features) == (2, 8)
    assert (len(concat.student), concat.student[0].in_features, concat.teacher[0].in_features) == (1, 16, 12)
    pairs = [(F.normalize(ps(s), dim=-1) - F.normalize(pt(t), dim=-1)).pow(2).sum(-1).mean()
             for ps, pt, s, t in zip(layerwise.student, layerwise.teacher, student, teacher)]
    assert layerwise(student, teacher).item() == pytest.approx(torch.stack(pairs).mean().item())
    assert 0 < concat(student, teacher).item() <= 4  # squared distance of unit vectors


def test_rail_training_draws_layers_each_epoch_trains_the_heads_and_saves_a_plain_student(tiny_classifier, tmp_path):
    model, tokenizer, train = tiny_classifier
    build_model(tmp_path / "models" / "teacher", layers=4, seed=5)
    hp = {"epochs": 3, "learning_rate": 1e-2, "batch_size": 8, "pooling": "mean", "projection_dim": 8}
    method = build_method("rail_kd", SST2, hp)
    method.setup(tokenizer=tokenizer, seed=3, student_path="unused", teacher_path=str(tmp_path / "models" / "teacher"))
    keys, heads = set(model.state_dict()), {}

    class HeadSpy(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            heads["begin"] = copy.deepcopy(getattr(model, HEADS).state_dict())

        def on_train_end(self, args, state, control, model=None, **kwargs):
            heads["end"] = copy.deepcopy(getattr(model, HEADS).state_dict())

    method.callbacks = lambda: [method.epochs, HeadSpy()]
    facts = run(method, model, tokenizer, train, tmp_path, hp, seed=1)  # the run's seed drives the draws
    assert facts["rail_layers_per_epoch"] == [sample_layers(4, 1, 1, e) for e in range(3)]
    assert len({tuple(layers) for layers in facts["rail_layers_per_epoch"]}) > 1
    assert all(not torch.equal(heads["begin"][k], heads["end"][k]) for k in heads["begin"] if k.endswith("weight"))
    assert set(model.state_dict()) == keys and not hasattr(model, HEADS)


# --- MATE-KD -------------------------------------------------------------------------------------------------------

@pytest.fixture
def mate(tiny_classifier, tmp_path):
    """MATE-KD set up on the tiny student (the generator is its checkpoint with a fresh MLM head) and a tiny teacher."""
    model, tokenizer, train = tiny_classifier
    build_model(tmp_path / "models" / "teacher", layers=2, seed=5)
    method = build_method("mate_kd", SST2, {"generator_lr": 3e-2, "mask_prob": 0.5})
    method.setup(tokenizer=tokenizer, seed=0, student_path=str(tmp_path / "models" / "tiny"),
                 teacher_path=str(tmp_path / "models" / "teacher"))
    model.eval()  # no dropout: the only randomness is the fixed draw
    batch = PadCollator(tokenizer)([with_teacher_logits(train)[i] for i in range(8)])
    return method, model, batch


def test_mate_generator_steps_increase_the_divergence_they_maximise(mate):
    method, student, batch = mate
    assert method.untrained_weights > 0  # the tiny checkpoint ships no MLM head: the generator's starts untrained
    draw = method.draw(batch)
    assert draw.mask.any() and not draw.mask[:, 0].any()  # [CLS] is never replaced
    before = method.generator_divergence(student, batch, draw).item()
    student_before = copy.deepcopy(student.state_dict())
    for _ in range(5):
        method.generator_step(student, batch, draw)
    assert method.generator_divergence(student, batch, draw).item() > before
    assert method.generator_steps == 5
    for name, value in student.state_dict().items():  # the generator's steps never move the student
        assert torch.equal(value, student_before[name])


def test_mate_student_loss_is_the_three_thirds_and_a_student_step_decreases_it(mate):
    method, student, batch = mate
    draw = method.draw(batch)
    with torch.no_grad():  # by hand: x~ = the generator's Gumbel-argmax tokens at the masked positions
        tokens = (method.generator_logits(batch, draw.mask) + draw.noise).argmax(-1)
        perturbed = {**batch, "input_ids": batch["input_ids"].masked_scatter(draw.mask, tokens)}
        z_s, z_s_x, z_t_x = (forward_logits(m, b) for m, b in ((student, batch), (student, perturbed),
                                                                (method.teacher, perturbed)))

        def kl(s, t):
            return F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean")

        expected = (F.cross_entropy(z_s, batch["labels"]) + kl(z_s_x, z_t_x) + kl(z_s, batch["teacher_logits"])) / 3
    assert not torch.equal(perturbed["input_ids"], batch["input_ids"])
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-2)
    before = method.student_loss(student, batch, draw)
    assert before.item() == pytest.approx(expected.item(), rel=1e-5)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        assert method.student_loss(student, batch, draw).item() < before.item()
    z_s = student(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits
    assert method.divergence(z_s, z_s, batch["labels"]).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("settings, learns", [({}, True), ({"generator_lr": 5e-7, "student_steps": 100}, False)])
def test_mate_generator_learns_within_a_round_with_the_default_settings(settings, learns, tiny_classifier, tmp_path):
    """With the defaults of config/methods.yaml, the first round's n_G steps raise the divergence they maximise on
    the round's first batch (same masks and noise, the student fixed while the generator steps) by a fifth or more;
    with the earlier defaults (the paper's lr 5e-7) hardly a sampled token changes. Tiny BERTs initialised at a
    trained checkpoint's scale, so that the generator's logits and both models' outputs depend on the tokens
    (MiniLM's embedding rows have norm ~1 too); the teacher's cached logits are its own."""
    _, tokenizer, train = tiny_classifier
    for name, layers, seed in (("student", 1, 0), ("teacher", 2, 5)):
        build_model(tmp_path / name, layers=layers, seed=seed, init_range=32 ** -0.5)
    teacher, _ = load_for_training(str(tmp_path / "teacher"), SST2, seed=5)
    logits = predict_logits(teacher.eval(), train, tokenizer)
    model, _ = load_for_training(str(tmp_path / "student"), SST2, seed=0)
    method = build_method("mate_kd", SST2, settings)
    method.setup(tokenizer=tokenizer, seed=0, student_path=str(tmp_path / "student"),
                 teacher_path=str(tmp_path / "teacher"))
    facts = run(method, model, tokenizer, train.add_column("teacher_logits", logits.tolist()), tmp_path,
                {"epochs": 1, "learning_rate": 1e-3, "batch_size": 4})
    assert facts["generator_rounds"] == 1 and facts["generator_steps"] == method.params["generator_steps"]
    divergence, gain = facts["generator_divergence_first_round"], facts["generator_gain_first_round"]
    assert divergence > 0 and (gain > 0.2 * divergence if learns else abs(gain) < 0.01 * divergence)


def test_mate_training_alternates_generator_and_student_steps(mate, tiny_classifier, tmp_path):
    method, model, _ = mate
    _, tokenizer, train = tiny_classifier
    method.params.update(generator_steps=2, student_steps=4)
    facts = run(method, model, tokenizer, with_teacher_logits(train), tmp_path,
                {"epochs": 2, "learning_rate": 1e-3, "batch_size": 4})
    assert facts["optimizer_steps"] == 12 and facts["generator_rounds"] == 3  # before student steps 0, 4 and 8
    assert facts["generator_steps"] == 6 and facts["generator_seconds"] > 0
    generator = facts["pass_tokens"]["generator"]  # each round's probe is one more forward pass (of 4 rows)
    assert generator["forward"] - facts["tokens"] > generator["backward"] > 0
    assert facts["generator_flops"] > 0 and facts["teacher_flops"] > 0
    assert facts["train_flops"] == facts["student_flops"] + facts["teacher_flops"] + facts["generator_flops"]


# --- SWA + KD ------------------------------------------------------------------------------------------------------

def test_swa_kd_distils_and_saves_the_mean_of_the_collected_weights(tiny_classifier, tmp_path):
    model, tokenizer, train = tiny_classifier
    hp = {"epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "swa_start": 0.5, "swa_every_steps": 2,
          "alpha": 0.7, "temperature": 2.0}
    method = build_method("swa_kd", SST2, hp)
    batch = PadCollator(tokenizer)([with_teacher_logits(train)[i] for i in range(4)])
    model.train()  # the distillation loss is the training loss; dropout drawn alike for both forwards
    torch.manual_seed(0)
    logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits
    expected = kd_loss(logits, batch["teacher_logits"], batch["labels"], 0.7, 2.0, regression=False)
    torch.manual_seed(0)
    assert method.compute_loss(model, batch).item() == pytest.approx(expected.item())
    spy = SnapshotEveryStep()
    method.callbacks = lambda: [method.collector, spy]
    facts = run(method, model, tokenizer, with_teacher_logits(train), tmp_path, hp)
    assert facts["optimizer_steps"] == 18 and facts["swa_collected_steps"] == [9, 11, 13, 15, 17]
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            expected = torch.stack([spy.snapshots[s][name] for s in facts["swa_collected_steps"]]).mean(0)
            torch.testing.assert_close(value, expected)


# --- configs -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["kd-study.yaml", "paper.yaml"])
def test_study_configs_run_every_kd_row(name):
    from pathlib import Path

    import yaml

    from swa_study.study.plan import load_study

    folder = Path(__file__).resolve().parents[1] / "config"
    study = load_study(yaml.safe_load((folder / name).read_text()), name, folder)
    assert {"finetune", "swa", "kd", "annealing_kd", "rail_kd", "mate_kd", "swa_kd"} <= set(study.methods)
