"""Vanilla knowledge distillation (Hinton et al. 2015) on teacher logits cached once per task.

L = (1 - alpha) CE(y, softmax(z_s)) + alpha T^2 KL(softmax(z_t / T) || softmax(z_s / T)).
Regression (STS-B): (1 - alpha) MSE(z_s, y) + alpha MSE(z_s, z_t); the temperature does not apply.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import TrainingMethod, forward_logits, supervised_loss


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    temperature: float,
    regression: bool,
) -> torch.Tensor:
    """The vanilla KD objective; the T^2 factor keeps the soft-target gradients on the scale of the hard ones."""
    if regression:
        hard = F.mse_loss(student_logits.view(-1), labels.float().view(-1))
        soft = F.mse_loss(student_logits.view(-1), teacher_logits.float().view(-1))
        return (1 - alpha) * hard + alpha * soft
    hard = F.cross_entropy(student_logits, labels)
    soft = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=-1),
        F.log_softmax(teacher_logits.float() / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",
    )
    return (1 - alpha) * hard + alpha * temperature**2 * soft


class KnowledgeDistillation(TrainingMethod):
    name = "kd"
    needs_teacher_logits = True
    defaults = {"alpha": 0.5, "temperature": 2.0}

    def compute_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = forward_logits(model, batch)
        if "teacher_logits" not in batch:  # evaluation batches carry no soft labels
            return supervised_loss(self.task, logits, batch["labels"])
        return kd_loss(
            logits, batch["teacher_logits"], batch["labels"],
            alpha=float(self.params["alpha"]), temperature=float(self.params["temperature"]),
            regression=self.task.is_regression,
        )
