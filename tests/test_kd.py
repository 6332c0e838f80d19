"""Vanilla KD loss against values computed by hand."""
import math

import pytest
import torch

from swa_study.methods.kd import kd_loss


def test_kd_loss_classification_matches_hand_computed_value():
    student = torch.tensor([[1.0, 2.0]])
    teacher = torch.tensor([[2.0, 0.0]])
    labels = torch.tensor([0])
    # By hand, T = 2, alpha = 0.5:
    ce = math.log(1 + math.e)  # -log softmax([1, 2])[0]
    p_t = [math.e / (math.e + 1), 1 / (math.e + 1)]  # softmax([2, 0] / 2)
    p_s = [1 / (1 + math.exp(0.5)), math.exp(0.5) / (1 + math.exp(0.5))]  # softmax([1, 2] / 2)
    kl = sum(t * math.log(t / s) for t, s in zip(p_t, p_s))
    expected = 0.5 * ce + 0.5 * 4 * kl
    assert expected == pytest.approx(1.171437, abs=1e-6)
    loss = kd_loss(student, teacher, labels, alpha=0.5, temperature=2.0, regression=False)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_alpha_zero_is_cross_entropy_and_alpha_one_is_pure_distillation():
    student = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.0, -1.0]])
    teacher = torch.tensor([[0.0, 0.0, 3.0], [2.0, 1.0, 0.0]])
    labels = torch.tensor([2, 1])
    ce = torch.nn.functional.cross_entropy(student, labels)
    assert kd_loss(student, teacher, labels, 0.0, 3.0, False).item() == pytest.approx(ce.item())
    same = kd_loss(teacher, teacher, labels, 1.0, 3.0, False)
    assert same.item() == pytest.approx(0.0, abs=1e-6)  # KL of a distribution with itself


def test_kd_loss_regression_uses_mse_to_labels_and_teacher():
    student = torch.tensor([[1.0], [3.0]])
    teacher = torch.tensor([[2.0], [2.0]])
    labels = torch.tensor([0.0, 3.0])
    hard = ((1 - 0) ** 2 + (3 - 3) ** 2) / 2  # 0.5
    soft = ((1 - 2) ** 2 + (3 - 2) ** 2) / 2  # 1.0
    loss = kd_loss(student, teacher, labels, alpha=0.25, temperature=2.0, regression=True)
    assert loss.item() == pytest.approx(0.75 * hard + 0.25 * soft)
