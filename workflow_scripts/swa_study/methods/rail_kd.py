"""RAIL-KD (Haidar et al., Findings of NAACL 2022): random intermediate-layer mapping for distillation.

Each epoch draws as many teacher layers as the student has, without replacement, sorts them and maps them in order
onto the student's layers ("layers" = transformer block outputs, embeddings excluded, last layer included: the tiny
test models and the 6-vs-3-layer offline pair have no others to spare). Each layer's representation ([CLS] or
mean-pooled over real tokens) is linearly projected, L2-normalised, and the student's is pulled onto the teacher's:
RAIL = mean over mapped layers of ||n(P_s h_s) - n(P_t h_t)||^2 (layer-wise, the default), or one such term on the
concatenated layers (`concatenate: true`). L = l1 CE(y, z_s) + l2 KD(z_s, z_t) + l3 RAIL, the l summing to 1;
KD is `kd.kd_loss`'s soft term (MSE to the teacher for regression). Defaults are ours, not the paper's.

The projection heads P_s, P_t train with the student: they are registered on the student as a submodule before the
Trainer builds its optimizer (so AdamW updates them) and removed again before the student is saved.

Teacher representations are computed ON THE FLY, in the same batch under no_grad, not cached per layer. A per-layer
cache would save the teacher's forward pass (about 70 % on top of a student step for the MiniLM pair by the mirror's
timings: L6 forward+backward 1.4 s, L3 0.65 s, a forward about a third of that) and is small when pooled (about 9 KB
per example for 6 layers x 384 floats), but it needs a DAG step of its own (the teacher_logits step caches logits only),
fixes the pooling in the cache, and is one more artefact to keep aligned with the student's rows. On the fly is exact
for any pooling, any layer choice and any input; if RAIL-KD runs dominate a study's cost, the cache is the next step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import TrainerCallback

from ..losses import MODEL_INPUTS, supervised_loss
from .base import EpochCounter, TrainingMethod
from .kd import kd_loss

HEADS = "rail_projections"  # attribute name of the projection heads while they are attached to the student


def sample_layers(teacher_layers: int, student_layers: int, seed: int, epoch: int) -> list[int]:
    """The teacher layers (1-based) mapped in order onto student layers 1..student_layers during `epoch`.

    Drawn from a generator seeded by (seed, epoch) alone, so a fixed seed gives a fixed sequence of mappings whatever
    else consumed random numbers, and a rerun of a job draws the same layers.
    """
    if student_layers > teacher_layers:
        raise ValueError(f"RAIL-KD maps each student layer to its own teacher layer: the student has {student_layers} "
                         f"layers, the teacher only {teacher_layers}")
    rng = np.random.default_rng([seed, epoch])
    return sorted(int(layer) + 1 for layer in rng.choice(teacher_layers, size=student_layers, replace=False))


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per example: the first ([CLS]) token, or the mean over real (unpadded) tokens."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


class RailProjections(nn.Module):
    """Linear maps of student and teacher representations into one space: a pair per mapped layer, or one pair
    over the concatenated layers."""

    def __init__(self, student_dim: int, teacher_dim: int, layers: int, dim: int, concatenate: bool):
        super().__init__()
        pairs, width = (1, layers) if concatenate else (layers, 1)
        self.concatenate = concatenate
        self.student = nn.ModuleList(nn.Linear(width * student_dim, dim) for _ in range(pairs))
        self.teacher = nn.ModuleList(nn.Linear(width * teacher_dim, dim) for _ in range(pairs))

    def forward(self, student_reps: list[torch.Tensor], teacher_reps: list[torch.Tensor]) -> torch.Tensor:
        if self.concatenate:
            student_reps, teacher_reps = [torch.cat(student_reps, -1)], [torch.cat(teacher_reps, -1)]
        distances = [
            (F.normalize(p_s(s), dim=-1) - F.normalize(p_t(t.float()), dim=-1)).pow(2).sum(-1).mean()
            for p_s, p_t, s, t in zip(self.student, self.teacher, student_reps, teacher_reps)
        ]
        return torch.stack(distances).mean()


class RailKD(TrainingMethod):
    name = "rail_kd"  # the teacher runs in every batch: hidden states on the fly, its logits with them

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.weights = tuple(float(self.params[k]) for k in ("ce_weight", "kd_weight", "rail_weight"))
        if abs(sum(self.weights) - 1.0) > 1e-4:
            raise ValueError(f"rail_kd: ce_weight + kd_weight + rail_weight must sum to 1, got {sum(self.weights):.6g}")
        if self.params["pooling"] not in ("cls", "mean"):
            raise ValueError(f"rail_kd: pooling must be 'cls' or 'mean', got {self.params['pooling']!r}")
        self.epochs = EpochCounter(self)
        self.seed = 0
        self.layers_per_epoch: dict[int, list[int]] = {}

    def current_layers(self) -> list[int]:
        """This epoch's teacher layers, drawn the first time the epoch asks."""
        epoch = self.epochs.epoch
        if epoch not in self.layers_per_epoch:
            self.layers_per_epoch[epoch] = sample_layers(
                self.teacher.config.num_hidden_layers, self.student_layers, self.seed, epoch)
        return self.layers_per_epoch[epoch]

    def train(self, model: torch.nn.Module, tokenizer, train_dataset, args, log_path: str | Path,
              heldout_dataset=None, job_callbacks: tuple = ()) -> dict[str, Any]:
        """Attach the projection heads (seeded) for the one Trainer run, and always detach them afterwards."""
        self.seed, self.student_layers = args.seed, model.config.num_hidden_layers
        self.require_teacher().to(next(model.parameters()).device)
        with torch.random.fork_rng():
            torch.manual_seed(args.seed)
            heads = RailProjections(model.config.hidden_size, self.teacher.config.hidden_size, self.student_layers,
                                    int(self.params["projection_dim"]), bool(self.params["concatenate"]))
        model.add_module(HEADS, heads)  # before the Trainer exists, so its optimizer includes the heads
        if args.world_size > 1:
            # The heads run outside the student's forward; DDP's search for unused parameters, which starts from
            # the forward's outputs, would count them unused and then see their gradients twice. Every parameter
            # gets a gradient at every step here, so the search is not needed.
            args.ddp_find_unused_parameters = False
        try:
            return super().train(model, tokenizer, train_dataset, args, log_path, heldout_dataset, job_callbacks)
        finally:
            if hasattr(model, HEADS):  # `finish` detached them unless training failed
                delattr(model, HEADS)

    def compute_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {key: batch[key] for key in MODEL_INPUTS if key in batch}
        core = getattr(model, "module", model)  # data-parallel: the heads live on the wrapped student
        if not model.training or not hasattr(core, HEADS):  # evaluation: the task loss only
            return supervised_loss(self.task, model(**inputs).logits, batch["labels"])
        student = model(**inputs, output_hidden_states=True)
        with torch.no_grad():
            teacher = self.teacher(**inputs, output_hidden_states=True)
        mask = inputs.get("attention_mask", torch.ones_like(batch["input_ids"]))
        pooling = self.params["pooling"]
        student_reps = [pool(student.hidden_states[i], mask, pooling) for i in range(1, self.student_layers + 1)]
        teacher_reps = [pool(teacher.hidden_states[j], mask, pooling) for j in self.current_layers()]
        rail = getattr(core, HEADS)(student_reps, teacher_reps)
        soft = kd_loss(student.logits, teacher.logits, batch["labels"], alpha=1.0,
                       temperature=float(self.params["temperature"]), regression=self.task.is_regression)
        hard = supervised_loss(self.task, student.logits, batch["labels"])
        l1, l2, l3 = self.weights
        return l1 * hard + l2 * soft + l3 * rail

    def callbacks(self) -> list[TrainerCallback]:
        return [self.epochs]

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The layer draws so far (the projection heads are part of the model while training, so the Trainer's
        checkpoint holds them)."""
        return {}, {"rail_layers_per_epoch": {str(e): layers for e, layers in self.layers_per_epoch.items()}}

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.layers_per_epoch = {int(e): layers for e, layers in meta.get("rail_layers_per_epoch", {}).items()}

    def pass_tokens(self, tokens: int) -> dict[str, dict[str, int]]:
        """The student's passes and the teacher's forward pass on every training batch (its hidden states)."""
        return {**super().pass_tokens(tokens), "teacher": {"forward": tokens}}

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        """Detach the heads (the saved student is a plain classifier, and the FLOPs count the student's own
        parameters: the heads see one pooled row per example, not every token); the layers drawn per epoch."""
        if hasattr(model, HEADS):
            delattr(model, HEADS)
        return {
            "rail_teacher_layers": self.teacher.config.num_hidden_layers,
            "rail_layers_per_epoch": [self.layers_per_epoch[e] for e in sorted(self.layers_per_epoch)],
        }
