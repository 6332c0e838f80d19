"""The interface every training method implements: its loss, its LR schedule, and what happens to the weights.

A method is one small class. The shared Trainer set-up (training.py) calls, in order:
`start(total_steps, steps_per_epoch)` once the step budget is known, `lr_factor(step)` for the scheduler,
`compute_loss(model, batch)` per batch, the Trainer callbacks from `callbacks()`, and `finish(model)` after the
last step, which may replace the weights (SWA loads its average) and returns facts worth recording.
Two optional hooks around that, both no-ops for single-phase methods: `setup(...)` loads what a method needs besides
the student (a frozen teacher, a generator), and `train(...)` runs the Trainer once; a multi-phase method (Annealing-KD)
overrides it to run the same Trainer set-up several times.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from ..models import load_trained
from ..schedules import warmup_linear_decay
from ..tasks import TaskSpec

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
IGNORE_INDEX = -100  # label of a position the loss skips (padding of generated targets)


def supervised_loss(task: TaskSpec, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the last axis, or mean squared error for regression tasks (one output).

    One formula for every family: classification logits are (batch, classes), QA ones (batch, 2, length) with the
    start and end token as labels (the mean is HF's (start loss + end loss) / 2), seq2seq ones (batch, length,
    vocabulary) with padded target positions labelled IGNORE_INDEX.
    """
    if task.is_regression:
        return F.mse_loss(logits.view(-1), labels.float().view(-1))
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX)


def forward_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's logits for the batch's token inputs, shaped as `supervised_loss` expects.

    Only token inputs reach the model, so it never computes a loss of its own; a seq2seq decoder reads the gold
    target shifted right (teacher forcing), and a QA model's start and end logits are stacked on axis 1.
    """
    inputs = {key: batch[key] for key in MODEL_INPUTS if key in batch}
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        inputs.pop("token_type_ids", None)
        inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
    outputs = model(**inputs)
    if getattr(outputs, "start_logits", None) is not None:
        return torch.stack([outputs.start_logits, outputs.end_logits], dim=1)
    return outputs.logits


def frozen_teacher(folder: str | Path, student_tokenizer) -> torch.nn.Module:
    """The trained teacher in eval mode with gradients off, for methods that run it on the student's own batches.

    The student's token ids go straight into the teacher, so both must share one vocabulary (true for the offline
    MiniLM pair and for RoBERTa/DistilRoBERTa); a mismatch would silently feed the teacher garbage, so it is an error.
    """
    teacher, teacher_tokenizer = load_trained(folder)
    if teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab():
        raise ValueError(f"{folder}: the teacher's vocabulary differs from the student's; this method feeds the "
                         "student's token ids to the teacher, so both need the same tokenizer")
    teacher.eval().requires_grad_(False)
    return teacher


class EpochCounter(TrainerCallback):
    """The 0-based index of the epoch being trained, for losses that change per epoch (Annealing-KD, RAIL-KD).

    The Trainer's `state.epoch` is a whole number when an epoch begins (the steps of the last one sum to 1).
    """

    def __init__(self) -> None:
        self.epoch = 0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.epoch = int(round(state.epoch or 0.0))


class TrainingMethod:
    """Plain fine-tuning behaviour; subclasses override what they change."""

    name: ClassVar[str] = ""
    needs_teacher_logits: ClassVar[bool] = False  # the cached train_logits.npz, as a `teacher_logits` batch column
    needs_teacher_model: ClassVar[bool] = False  # the trained teacher itself (rules/common.smk adds it as an input)
    families: ClassVar[tuple[str, ...]] = ("classification", "qa", "generation")  # task families it applies to
    # Keys of the method's own section in config (`method_params.<name>`), with their defaults.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, task: TaskSpec, params: dict[str, Any]):
        self.task = task
        self.params = {**self.defaults, **{k: v for k, v in params.items() if k in self.defaults}}
        self.warmup_ratio = float(params.get("warmup_ratio", 0.06))
        self.total_steps = 0
        self.steps_per_epoch = 0
        self.warmup_steps = 0
        self.teacher: torch.nn.Module | None = None

    @classmethod
    def teacher_inputs(cls, task: TaskSpec) -> tuple[str, ...]:
        """What the DAG must hand this method from the task's teacher: "logits" (cached once) and/or "model"."""
        return tuple(kind for kind, needed in (("logits", cls.needs_teacher_logits), ("model", cls.needs_teacher_model))
                     if needed)

    def setup(self, *, tokenizer, seed: int, student_path: str, teacher_path: str | None = None,
              mirror: str | None = None) -> None:
        """Load what the method needs besides the student; by default only the teacher, when it declares the need."""
        if "model" in self.teacher_inputs(self.task):
            if teacher_path is None:
                raise ValueError(f"method {self.name!r} needs the trained teacher model, but none was given")
            self.teacher = frozen_teacher(teacher_path, tokenizer)

    def train(self, model: torch.nn.Module, tokenizer, train_dataset, args, log_path: str | Path,
              eval_dataset=None) -> dict[str, Any]:
        """Train in place with one run of the shared Trainer set-up and return its compute facts.

        `eval_dataset` (the dev split) is offered to every method; single-phase ones ignore it, as before: they never
        score dev while training, so their runs are unchanged. Annealing-KD needs it to pick its phase-1 checkpoint.
        """
        from ..training import train_model  # training.py imports this module, so import it at call time

        return train_model(model, tokenizer, self, train_dataset, args, log_path)

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
