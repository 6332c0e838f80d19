"""The comparison's protocol: what is shared across methods of one seed, and what KD really trains on.

Each test would catch a silent change of method or of data: teacher logits reaching the wrong rows through the
shuffled Trainer, KD quietly training on labels only, a seed that does not fix the data order or the head.
"""
import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from swa_study.data import DataError, attach_teacher_logits
from swa_study.methods import build_method
from swa_study.models import load_for_training
from swa_study.study.tasks import builtin_task
from swa_study.prediction import model_columns
from swa_study.training import TrainSettings, train_model, training_arguments

SST2 = builtin_task("sst2")
HP = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 4, "logging_steps": 1}


class BatchSpy(TrainerCallback):
    """Wraps a method's loss to record each training batch it sees."""

    def __init__(self, method):
        self.batches = []
        loss = method.compute_loss

        def recording(model, batch):
            if model.training:
                self.batches.append({k: v.clone() for k, v in batch.items()})
            return loss(model, batch)

        method.compute_loss = recording


def train(method, model, tokenizer, rows, tmp_path, seed=3):
    args = training_arguments(TrainSettings.from_params(method.params, seed=seed), tmp_path / "trainer")
    return train_model(model, tokenizer, method, rows, args, tmp_path / "log.jsonl")


def with_cached_logits(rows, tmp_path, logits):
    """The rows with teacher logits attached the way train_student does it: from an npz keyed by row idx."""
    path = tmp_path / "train_logits.npz"
    np.savez(path, idx=np.asarray(rows["idx"]), logits=logits, token_digest="")
    return attach_teacher_logits(rows, path, same_tokens=False)


@pytest.fixture
def rows_with_idx(tiny_classifier):
    model, tokenizer, train_rows = tiny_classifier
    return model, tokenizer, train_rows.add_column("idx", list(range(len(train_rows))))


def test_cached_teacher_logits_reach_the_loss_with_their_own_row_through_the_shuffled_trainer(rows_with_idx, tmp_path):
    model, tokenizer, rows = rows_with_idx
    logits = np.stack([np.arange(len(rows), dtype=np.float32), -np.arange(len(rows), dtype=np.float32) * 2], 1)
    data = with_cached_logits(rows, tmp_path, logits)  # row i's teacher logits are (i, -2i): each row its own
    method = build_method("kd", SST2, HP)
    spy = BatchSpy(method)
    train(method, model, tokenizer, data.select_columns(model_columns(data, ("teacher_logits",))), tmp_path)
    tokens_of = {i: [t for t in ids] for i, ids in enumerate(rows["input_ids"])}
    seen = []
    for batch in spy.batches:
        for ids, mask, teacher in zip(batch["input_ids"], batch["attention_mask"], batch["teacher_logits"]):
            row = int(teacher[0])
            assert teacher[1] == -2 * row
            assert ids[mask.bool()].tolist() == tokens_of[row]  # the logits travelled with their own sentence
            seen.append(row)
    assert sorted(seen) == sorted(list(range(len(rows))) * 2)  # every row once per epoch
    assert seen[:len(rows)] != list(range(len(rows)))  # and the order really was shuffled


def test_logits_cached_for_other_rows_are_refused(rows_with_idx, tmp_path):
    _, _, rows = rows_with_idx
    path = tmp_path / "other.npz"
    np.savez(path, idx=np.arange(1, len(rows) + 1), logits=np.zeros((len(rows), 2)), token_digest="")
    with pytest.raises(DataError, match="other.npz: teacher logits are for other training rows"):
        attach_teacher_logits(rows, path, same_tokens=False)
    path.write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.raises(DataError, match="other.npz: unreadable cached teacher logits"):
        attach_teacher_logits(rows, path, same_tokens=False)


def test_kd_training_uses_the_teacher_and_refuses_to_train_without_it(tiny_classifier, tmp_path):
    _, tokenizer, rows = tiny_classifier
    rows = rows.add_column("idx", list(range(len(rows))))
    model_dir = tmp_path / "models" / "tiny"  # where the fixture saved the tiny model
    generator = np.random.default_rng(0)
    weights = {}
    for name, alpha in (("labels_only", 0.0), ("teacher_a", 0.9), ("teacher_b", 0.9)):
        (tmp_path / name).mkdir()
        data = with_cached_logits(rows, tmp_path / name, generator.normal(size=(len(rows), 2)).astype(np.float32) * 3)
        model, tokenizer = load_for_training(str(model_dir), SST2, seed=0)
        method = build_method("kd", SST2, {**HP, "alpha": alpha})
        train(method, model, tokenizer, data.select_columns(model_columns(data, ("teacher_logits",))), tmp_path / name)
        weights[name] = model.classifier.weight.detach().clone()
    finetuned, _ = load_for_training(str(model_dir), SST2, seed=0)
    train(build_method("finetune", SST2, HP), finetuned, tokenizer, rows.select_columns(model_columns(rows)),
          tmp_path / "finetune")
    torch.testing.assert_close(weights["labels_only"], finetuned.classifier.weight)  # alpha 0 is fine-tuning
    assert not torch.allclose(weights["teacher_a"], weights["teacher_b"])  # the teacher's logits steer training
    assert not torch.allclose(weights["teacher_a"], finetuned.classifier.weight)
    model, tokenizer = load_for_training(str(model_dir), SST2, seed=0)
    with pytest.raises(ValueError, match="'kd': a training batch carries no teacher logits"):
        train(build_method("kd", SST2, HP), model, tokenizer, rows.select_columns(model_columns(rows)),
              tmp_path / "missing")


def test_the_seed_fixes_the_head_and_the_data_order_and_another_seed_changes_both(tiny_classifier, tmp_path):
    _, tokenizer, rows = tiny_classifier
    rows = rows.add_column("idx", list(range(len(rows))))
    model_dir = tmp_path / "models" / "tiny"
    heads, orders = {}, {}
    for run, seed in (("a", 1), ("b", 1), ("c", 2)):
        model, tokenizer = load_for_training(str(model_dir), SST2, seed=seed)
        heads[run] = model.classifier.weight.detach().clone()
        logits = np.stack([np.arange(len(rows), dtype=np.float32)] * 2, 1)
        (tmp_path / run).mkdir()
        data = with_cached_logits(rows, tmp_path / run, logits)
        method = build_method("kd", SST2, HP)
        spy = BatchSpy(method)
        train(method, model, tokenizer, data.select_columns(model_columns(data, ("teacher_logits",))),
              tmp_path / run, seed=seed)
        orders[run] = [int(t[0]) for batch in spy.batches for t in batch["teacher_logits"]]
    torch.testing.assert_close(heads["a"], heads["b"])
    assert orders["a"] == orders["b"]
    assert not torch.allclose(heads["a"], heads["c"]) and orders["a"] != orders["c"]


def test_swa_uses_a_quarter_epoch_as_k_by_default(tiny_classifier, tmp_path):
    model, tokenizer, rows = tiny_classifier
    hp = {**HP, "batch_size": 2, "epochs": 2, "swa_start": 0.5}  # 24 rows / 2 = 12 steps per epoch -> K = 3
    facts = train(build_method("swa", SST2, hp), model, tokenizer, rows, tmp_path)
    assert facts["optimizer_steps"] == 24 and facts["swa_every_steps"] == 3
    assert facts["swa_collected_steps"] == [12, 15, 18, 21, 24]
