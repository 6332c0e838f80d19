"""Vanilla knowledge distillation (Hinton et al. 2015) on teacher logits cached once per task.

L = (1 - alpha) CE(y, softmax(z_s)) + alpha T^2 KL(softmax(z_t / T) || softmax(z_s / T)).
Regression (STS-B): (1 - alpha) MSE(z_s, y) + alpha MSE(z_s, z_t); the temperature does not apply.
QA: the same loss on the start and the end distributions over token positions (mean of the two), teacher logits
cached per training window. Generation: word-level KD (Kim & Rush 2016), the same loss per target token under
teacher forcing; a (length x vocabulary) distribution per token is too large to cache, so the frozen teacher runs
on the student's batch instead (same tokenizer required, checked at load).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import IGNORE_INDEX, forward_logits, supervised_loss
from .base import TrainingMethod, cached_teacher_logits


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    temperature: float,
    regression: bool,
) -> torch.Tensor:
    """The vanilla KD objective; the T^2 factor keeps the soft-target gradients on the scale of the hard ones.

    Logits may carry extra axes before the class axis (QA: start/end; generation: target positions): every
    position is one distribution, averaged over positions whose label is not IGNORE_INDEX.
    """
    if regression:
        hard = F.mse_loss(student_logits.view(-1), labels.float().view(-1))
        soft = F.mse_loss(student_logits.view(-1), teacher_logits.float().view(-1))
        return (1 - alpha) * hard + alpha * soft
    classes = student_logits.size(-1)
    student, teacher, labels = (student_logits.reshape(-1, classes), teacher_logits.float().reshape(-1, classes),
                                labels.reshape(-1))
    hard = F.cross_entropy(student, labels, ignore_index=IGNORE_INDEX)
    keep = labels != IGNORE_INDEX  # padded target positions have no distribution worth matching
    soft = F.kl_div(
        F.log_softmax(student[keep] / temperature, dim=-1),
        F.log_softmax(teacher[keep] / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",
    )
    return (1 - alpha) * hard + alpha * temperature**2 * soft


class KnowledgeDistillation(TrainingMethod):
    name = "kd"  # cached teacher logits; for generation the frozen teacher runs on each batch (word-level KD)

    def compute_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = forward_logits(model, batch)
        if not model.training:  # evaluation batches (held-out scoring) carry no soft labels: the task loss
            return supervised_loss(self.task, logits, batch["labels"])
        if self.teacher is not None and "teacher_logits" not in batch:  # generation: too large to cache
            with torch.no_grad():
                teacher_logits = forward_logits(self.teacher.to(logits.device), batch)
        else:
            teacher_logits = cached_teacher_logits(self.name, batch)
        return kd_loss(
            logits, teacher_logits, batch["labels"],
            alpha=float(self.params["alpha"]), temperature=float(self.params["temperature"]),
            regression=self.task.is_regression,
        )

    def pass_tokens(self, tokens: int) -> dict[str, dict[str, int]]:
        """The student's passes, and the live teacher's forward on every batch when it runs (generation)."""
        return {**super().pass_tokens(tokens), **({"teacher": {"forward": tokens}} if self.teacher is not None else {})}
