"""Resumable training, method by method: a run cut short after a checkpoint and resumed in a fresh process state
ends with exactly the weights of a run never interrupted; a damaged checkpoint is skipped with one warning line.

The interruption here is an exception raised inside the Trainer (the same files survive as after a kill); the
end-to-end test in test_reliability.py kills a real `snakemake` with SIGKILL.
"""
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from swa_study.checkpoints import MARKER, claim_folder, latest_checkpoint
from swa_study.data import attach_teacher_logits
from swa_study.methods import build_method
from swa_study.methods.rail_kd import sample_layers
from swa_study.models import load_for_training
from swa_study.study.tasks import builtin_task
from swa_study.prediction import model_columns
from swa_study.training import TrainSettings, train_model, training_arguments
from tiny_study import build_model

SST2 = builtin_task("sst2")
HP = {"epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "logging_steps": 1, "swa_start": 0.3,
      "swa_every_steps": 2, "phase1_epochs": 2, "phase2_epochs": 1, "tau_max": 2, "projection_dim": 8,
      "generator_steps": 1, "student_steps": 4, "lawa_every_steps": 4, "swag_rank": 3}
# 24 rows, batch 4, 3 epochs: 18 steps, 6 per epoch. A checkpoint every 4 steps; each run is killed twice, after
# step 13 (resuming at 12, an epoch boundary) and after step 17 (resuming at 16, two thirds into the last epoch,
# where the Trainer's fractional epoch 2.67 rounds to the next one). LAWA averages steps 2, 6, 10, 14, 18 and SWAG's
# 3 deviation columns roll over, so both hold state from before each checkpoint that a resume must restore.
CHECKPOINT_EVERY = 4
KILLS = {"annealing_kd": (9, 17)}  # phase 1 saves at epoch ends (6, 12): resumed there, then phase 2 at its step 4
RESUMED_AT = {"annealing_kd": 4}  # phase 2's own step count
METHODS = ["finetune", "swa", "kd", "swa_kd", "rail_kd", "mate_kd", "annealing_kd",
           "ema", "lawa", "swag", "sam", "sam_swa"]
FACTS = ("swa_collected_steps", "generator_steps", "rail_layers_per_epoch", "phase1_best_epoch",
         "ema_updates", "lawa_collected_steps", "lawa_models_averaged", "swag_deviation_columns",
         "forward_backward_passes", "generator_divergence_first_round", "generator_divergence_last_round",
         "generator_gain_first_round", "generator_gain_last_round", "tokens", "pass_tokens",
         "train_flops", "train_flops_with_embeddings", "student_flops", "teacher_flops", "generator_flops")


class Interrupt(Exception):
    pass


class InterruptAt(TrainerCallback):
    """Stops training (as a kill would) when step `step` of the run ends, before anything is saved for it; steps
    count across a multi-phase method's phases (`method.step_offset`)."""

    def __init__(self, step, method):
        self.step, self.method = step, method

    def on_step_end(self, args, state, control, **kwargs):
        if self.method.step_offset + state.global_step == self.step:
            raise Interrupt


@pytest.fixture
def setting(tiny_classifier, tmp_path):
    _, tokenizer, rows = tiny_classifier
    rows = rows.add_column("idx", list(range(len(rows))))
    logits = np.random.default_rng(0).normal(size=(len(rows), 2)).astype(np.float32) * 3
    np.savez(tmp_path / "logits.npz", idx=np.asarray(rows["idx"]), logits=logits, token_digest="")
    data = attach_teacher_logits(rows, tmp_path / "logits.npz", same_tokens=False)
    build_model(tmp_path / "models" / "teacher", layers=2, seed=5)
    return tokenizer, data.select_columns(model_columns(data, ("teacher_logits",))), tmp_path


def fresh_run(name, setting, folder, interrupt_at=None):
    """One training job as a new process would start it: new model, new method, resume from what `folder` holds."""
    tokenizer, data, tmp_path = setting
    model, tokenizer = load_for_training(str(tmp_path / "models" / "tiny"), SST2, seed=7)
    method = build_method(name, SST2, HP)
    method.setup(tokenizer=tokenizer, seed=7, student_path=str(tmp_path / "models" / "tiny"),
                 teacher_path=str(tmp_path / "models" / "teacher") if name in ("rail_kd", "mate_kd") else None)
    if interrupt_at is not None:
        callbacks = method.callbacks
        method.callbacks = lambda: [*callbacks(), InterruptAt(interrupt_at, method)]
    claim_folder(folder, {"run": name})
    args = training_arguments(TrainSettings.from_params(HP, seed=7), folder, checkpoint_every=CHECKPOINT_EVERY)
    heldout = data.select(range(8)).remove_columns(["teacher_logits"])
    facts = method.train(model, tokenizer, data, args, folder / "log.jsonl", heldout_dataset=heldout)
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    # every record but the time it was written and the Trainer's end-of-run summary (its runtime, its own loss mean)
    timing = ("time", "heldout_runtime", "heldout_samples_per_second", "heldout_steps_per_second")
    log = [{k: v for k, v in r.items() if k not in timing} for r in records if "train_runtime" not in r]
    return model, facts, log, method.saved_files()


@pytest.mark.parametrize("name", METHODS)
def test_a_run_resumed_at_and_between_epoch_boundaries_ends_as_an_uninterrupted_one(name, setting):
    tmp_path = setting[2]
    straight, straight_facts, straight_log, straight_files = fresh_run(name, setting, tmp_path / "straight")
    for kill in KILLS.get(name, (13, 17)):
        with pytest.raises(Interrupt):
            fresh_run(name, setting, tmp_path / "killed", interrupt_at=kill)
    resumed, facts, log, files = fresh_run(name, setting, tmp_path / "killed")
    assert facts["resumed_from_step"] == RESUMED_AT.get(name, 16)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert log == straight_log
    assert facts["optimizer_steps"] == straight_facts["optimizer_steps"]
    assert facts["train_loss"] == pytest.approx(straight_facts["train_loss"])
    for key in FACTS:
        assert facts.get(key) == straight_facts.get(key), key
    assert files.keys() == straight_files.keys()  # SWAG's moments, saved beside the weights
    for name in files:
        assert files[name].keys() == straight_files[name].keys()
        for key, value in straight_files[name].items():
            assert torch.equal(value, files[name][key]), key


def test_rail_kd_draws_other_teacher_layers_in_the_epochs_a_resume_could_confuse():
    """The resume test catches a wrong epoch at step 16 only if epochs 2 and 3 draw different layers (seed 7)."""
    assert sample_layers(2, 1, seed=7, epoch=2) != sample_layers(2, 1, seed=7, epoch=3)


def test_the_epoch_of_a_run_resumed_mid_epoch_comes_from_the_step_count():
    """Resumed at step 16 of 6 per epoch, the Trainer begins epoch 2 with state.epoch = 2.67: still epoch 2."""
    method = build_method("rail_kd", SST2, {})
    method.start(18, 6)
    state = SimpleNamespace(global_step=16, epoch=16 / 6)
    method.epochs.on_epoch_begin(None, state, None)
    method.epochs.on_step_begin(None, state, None)
    assert method.epochs.epoch == 2
    method.epochs.on_step_begin(None, SimpleNamespace(global_step=12, epoch=2.0), None)
    assert method.epochs.epoch == 2
    method.epochs.on_step_begin(None, SimpleNamespace(global_step=11, epoch=11 / 6), None)
    assert method.epochs.epoch == 1


def test_the_epoch_counter_follows_the_trainers_epochs_with_gradient_accumulation(tiny_classifier, tmp_path):
    """24 rows in batches of 2, 2 per update: 6 updates per epoch; 1.2 epochs are 8 updates, so total / epochs
    (6.67) would round to 7 updates per epoch and put update 7 in epoch 0."""
    model, tokenizer, train = tiny_classifier
    hp = {"epochs": 1.2, "learning_rate": 1e-3, "batch_size": 2, "gradient_accumulation_steps": 2}
    method = build_method("annealing_kd", SST2, {**hp, "phase1_epochs": 1.2})
    seen = []

    class Spy(TrainerCallback):
        trainer_epoch = -1

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.trainer_epoch += 1

        def on_step_begin(self, args, state, control, **kwargs):
            seen.append((self.trainer_epoch, method.epochs.epoch))

    method.callbacks = lambda: [method.epochs, Spy()]
    train_model(model, tokenizer, method, train.add_column("teacher_logits", [[0.0, 0.0]] * len(train)),
                training_arguments(TrainSettings.from_params(hp, seed=3), tmp_path / "t"), tmp_path / "log.jsonl")
    assert method.steps_per_epoch == 6
    assert seen == [(0, 0)] * 6 + [(1, 1)] * 2


def test_a_damaged_checkpoint_is_skipped_with_one_warning(setting, capsys):
    tmp_path = setting[2]
    with pytest.raises(Interrupt):
        fresh_run("swa", setting, tmp_path / "run", interrupt_at=10)
    newest, older = tmp_path / "run" / "checkpoint-8", tmp_path / "run" / "checkpoint-4"
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a torn write
    assert latest_checkpoint(tmp_path / "run") == older
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning[-1] == (f"warning: {newest}: model.safetensors does not match its recorded checksum; "
                           "falling back to the checkpoint before it")
    assert not newest.exists()
    (older / MARKER).unlink()  # cut short before its marker: not trusted either
    assert latest_checkpoint(tmp_path / "run") is None


def test_a_checkpoint_folder_of_other_settings_is_wiped(tmp_path):
    folder = claim_folder(tmp_path / "ckpt", {"lr": 1e-3})
    (folder / "checkpoint-5").mkdir()
    assert claim_folder(tmp_path / "ckpt", {"lr": 1e-3}) == folder and (folder / "checkpoint-5").is_dir()
    claim_folder(tmp_path / "ckpt", {"lr": 2e-3})
    assert not (folder / "checkpoint-5").exists()
    shutil.rmtree(folder)
