"""The shared losses on QA and seq2seq logits, against the per-head and per-token formulas they must equal."""
import math

import pytest
import torch
import torch.nn.functional as F

from swa_study.losses import IGNORE_INDEX, forward_logits, supervised_loss
from swa_study.methods.kd import kd_loss
from swa_study.study.tasks import builtin_task as get_task
from swa_study.prediction import PadCollator


def kd_by_hand(student, teacher, label, alpha, temperature):
    """Hinton KD for one distribution, written out with Python floats."""
    def softmax(values):
        exps = [math.exp(v) for v in values]
        return [e / sum(exps) for e in exps]

    ce = -math.log(softmax(student)[label])
    p_t = softmax([v / temperature for v in teacher])
    p_s = softmax([v / temperature for v in student])
    kl = sum(t * math.log(t / s) for t, s in zip(p_t, p_s))
    return (1 - alpha) * ce + alpha * temperature**2 * kl


def test_qa_loss_is_the_mean_of_the_start_and_end_cross_entropies():
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 7)  # (windows, start/end, tokens)
    positions = torch.tensor([[1, 3], [0, 0], [6, 6]])
    start = F.cross_entropy(logits[:, 0], positions[:, 0])
    end = F.cross_entropy(logits[:, 1], positions[:, 1])
    assert supervised_loss(get_task("squad"), logits, positions).item() == pytest.approx(((start + end) / 2).item())


def test_qa_kd_averages_the_hand_computed_start_and_end_losses():
    student = torch.tensor([[[1.0, 2.0, 0.0], [0.5, -1.0, 1.5]]])  # one window, 3 tokens
    teacher = torch.tensor([[[2.0, 0.0, 1.0], [0.0, 0.0, 3.0]]])
    positions = torch.tensor([[1, 2]])
    expected = (kd_by_hand([1.0, 2.0, 0.0], [2.0, 0.0, 1.0], 1, 0.5, 2.0)
                + kd_by_hand([0.5, -1.0, 1.5], [0.0, 0.0, 3.0], 2, 0.5, 2.0)) / 2
    assert kd_loss(student, teacher, positions, 0.5, 2.0, regression=False).item() == pytest.approx(expected, rel=1e-6)


def test_word_level_kd_skips_padded_target_positions():
    torch.manual_seed(1)
    student, teacher = torch.randn(2, 4, 5), torch.randn(2, 4, 5)  # (batch, target length, vocabulary)
    labels = torch.tensor([[1, 2, IGNORE_INDEX, IGNORE_INDEX], [4, 0, 3, IGNORE_INDEX]])
    kept = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    expected = sum(kd_by_hand(student[b, t].tolist(), teacher[b, t].tolist(), int(labels[b, t]), 0.3, 1.5)
                   for b, t in kept) / len(kept)
    assert kd_loss(student, teacher, labels, 0.3, 1.5, regression=False).item() == pytest.approx(expected, rel=1e-5)
    # Garbage in the padded positions changes nothing.
    student[0, 3], teacher[1, 3] = 100.0, -100.0
    assert kd_loss(student, teacher, labels, 0.3, 1.5, regression=False).item() == pytest.approx(expected, rel=1e-5)


def test_collator_cuts_target_columns_no_row_uses(tiny_classifier):
    _, tokenizer, _ = tiny_classifier
    rows = [{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1], "label": [5, 6, IGNORE_INDEX, IGNORE_INDEX]},
            {"input_ids": [101, 102], "attention_mask": [1, 1], "label": [5, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]}]
    batch = PadCollator(tokenizer)(rows)
    assert batch["labels"].tolist() == [[5, 6], [5, IGNORE_INDEX]]
    assert batch["input_ids"].shape == (2, 3)


def test_forward_logits_feeds_a_seq2seq_decoder_the_shifted_gold_target(tmp_path):
    from swa_study.generation.models import build_seq2seq
    from tiny_study import build_model

    build_model(tmp_path / "tiny", layers=1, seed=0)
    model, tokenizer = build_seq2seq(str(tmp_path / "tiny"))
    model.eval()
    batch = tokenizer(["red ball kid", "dog run"], padding=True, return_tensors="pt", return_token_type_ids=False)
    batch["labels"] = torch.tensor([[2000, 2001, 102], [2002, 102, IGNORE_INDEX]])
    ours = forward_logits(model, batch)
    reference = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    assert ours.shape == (2, 3, tokenizer.vocab_size)
    assert torch.allclose(ours, reference.logits)
    loss = supervised_loss(get_task("commongen"), ours, batch["labels"])
    assert loss.item() == pytest.approx(reference.loss.item(), rel=1e-5)  # the model's own masked CE
