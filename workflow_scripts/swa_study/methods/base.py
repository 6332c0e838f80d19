"""The interface every training method implements: its loss, its LR schedule, and what happens to the weights.

A method is one small class. The shared Trainer set-up (training.py) calls, in order:
`start(total_steps, steps_per_epoch)` once the step budget is known, `lr_factor(step)` for the scheduler,
`compute_loss(model, batch)` per batch, the Trainer callbacks from `callbacks()`, and `finish(model)` after the
last step, which may replace the weights (SWA loads its average) and returns facts worth recording.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from ..schedules import warmup_linear_decay
from ..tasks import TaskSpec

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def supervised_loss(task: TaskSpec, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on class ids, or mean squared error for regression tasks (one output)."""
    if task.is_regression:
        return F.mse_loss(logits.view(-1), labels.float().view(-1))
    return F.cross_entropy(logits, labels)


def forward_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's logits for the batch's token inputs (extra batch keys such as labels are not passed on)."""
    return model(**{key: batch[key] for key in MODEL_INPUTS if key in batch}).logits


class TrainingMethod:
    """Plain fine-tuning behaviour; subclasses override what they change."""

    name: ClassVar[str] = ""
    needs_teacher_logits: ClassVar[bool] = False
    # Keys of the method's own section in config (`method_params.<name>`), with their defaults.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, task: TaskSpec, params: dict[str, Any]):
        self.task = task
        self.params = {**self.defaults, **{k: v for k, v in params.items() if k in self.defaults}}
        self.warmup_ratio = float(params.get("warmup_ratio", 0.06))
        self.total_steps = 0
        self.steps_per_epoch = 0
        self.warmup_steps = 0

    def start(self, total_steps: int, steps_per_epoch: int) -> None:
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.warmup_steps = int(round(self.warmup_ratio * total_steps))

    def lr_factor(self, step: int) -> float:
        return warmup_linear_decay(step, self.total_steps, self.warmup_steps)

    def compute_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return supervised_loss(self.task, forward_logits(model, batch), batch["labels"])

    def callbacks(self) -> list[TrainerCallback]:
        return []

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        return {}
