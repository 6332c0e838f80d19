"""Annealing-KD (Jafari et al., EACL 2021): distil a gradually sharpened teacher, then fine-tune on the labels.

Phase 1 (no labels): L = MSE(z_s, z_t * t / tau_max), with t rising 1..tau_max in equal blocks of epochs, so the
student first matches a flattened teacher and ends on the real one. The held-out slice of the training split
(data.heldout_size rows, the same for every method) is scored after every phase-1 epoch and the best checkpoint
(the task's main metric) is restored; the paper selects on dev, which would bias this row against methods that keep
their last or averaged weights, since the tables report dev. Phase 2 starts from it, with a fresh optimizer
and LR schedule, and trains on the hard labels only (CE; MSE for regression). Teacher logits are the cached ones.

Both phases are runs of the same Trainer set-up (`training.train_model`); this module's `train` hook only sequences
them and merges their logs. The paper's GLUE setting (tau_max 7, 14 + 4 epochs) is the default; the shared `epochs`
setting does not apply, the two phase lengths are the budget.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from ..checkpoints import latest_checkpoint, load_stage, save_stage
from ..compute import summed_facts
from ..losses import forward_logits, supervised_loss
from ..training import train_model
from .base import EpochCounter, TrainingMethod, cached_teacher_logits


def annealing_t(epoch: int, phase1_epochs: float, tau_max: int) -> int:
    """The annealing step t (1..tau_max) of 0-based phase-1 epoch `epoch`: ceil((epoch + 1) * tau_max / phase1_epochs).

    With `phase1_epochs` a multiple of `tau_max` these are blocks of phase1_epochs / tau_max epochs per t (the paper:
    14 epochs, tau_max 7, two epochs each). Otherwise the blocks differ by at most one epoch; in every case the last
    epoch distils the unscaled teacher (t = tau_max), which is where the paper's phase 1 ends.
    """
    t = math.ceil((epoch + 1) * tau_max / phase1_epochs - 1e-9)
    return min(max(t, 1), tau_max)


def merged_log(phases: list[tuple[Path, dict[str, Any]]], anneal: Any) -> list[dict[str, Any]]:
    """One timeline from the phases' logs: steps and epochs continue across phases and each record names its phase.

    Phase-1 records also carry `anneal_t`. `anneal(epoch)` maps a 0-based phase-1 epoch to t.
    """
    records, step_offset, epoch_offset = [], 0, 0.0
    for phase, (path, facts) in enumerate(phases, start=1):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            epoch = float(record.get("epoch") or 0.0)
            extra = {"anneal_t": anneal(max(0, math.ceil(epoch) - 1))} if phase == 1 else {}
            records.append({**record, "step": record["step"] + step_offset, "epoch": epoch + epoch_offset,
                            "phase": phase, **extra})
        step_offset += facts["optimizer_steps"]
        epoch_offset += facts["epochs"]
    return records


class AnnealingKD(TrainingMethod):
    name = "annealing_kd"  # cached teacher logits; defined on sentence-level logits only (config/methods.yaml)

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.phase = 1
        self.epochs = EpochCounter(self)

    @property
    def factor(self) -> float:
        """t / tau_max for the phase-1 epoch being trained."""
        tau_max = int(self.params["tau_max"])
        return annealing_t(self.epochs.epoch, float(self.params["phase1_epochs"]), tau_max) / tau_max

    def compute_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = forward_logits(model, batch)
        if self.phase == 2 or not model.training:  # phase 2, and held-out scoring (no soft labels): labels only
            return supervised_loss(self.task, logits, batch["labels"])
        target = cached_teacher_logits(self.name, batch).float().view_as(logits) * self.factor
        return F.mse_loss(logits, target)

    def callbacks(self) -> list[TrainerCallback]:
        return [self.epochs]

    def train(self, model: torch.nn.Module, tokenizer, train_dataset, args, log_path: str | Path,
              heldout_dataset=None, job_callbacks: tuple = ()) -> dict[str, Any]:
        """Phase 1 with per-epoch held-out scoring and best-checkpoint restore, then phase 2; facts per phase and
        summed. The checkpoint is chosen on held-out training rows, never on the dev split the tables report."""
        if heldout_dataset is None or len(heldout_dataset) == 0:
            raise ValueError("annealing_kd starts phase 2 from the phase-1 checkpoint best on the held-out slice of "
                             "the training split: set data.heldout_size above 0")
        scratch = Path(args.output_dir)
        epochs = (float(self.params["phase1_epochs"]), float(self.params["phase2_epochs"]))
        phase1_args = dataclasses.replace(
            args, output_dir=str(scratch / "phase1"), num_train_epochs=epochs[0],
            eval_strategy="epoch", save_strategy="epoch", save_total_limit=1, load_best_model_at_end=True,
            metric_for_best_model=self.task.main_metric, greater_is_better=True,
        )
        self.phase = 1
        first = load_stage(scratch / "phase1-done", model)  # a rerun after a kill skips a finished phase 1
        if first is None:  # (resuming from its last epoch checkpoint if it was cut short)
            first = train_model(model, tokenizer, self, train_dataset, phase1_args, scratch / "phase1.jsonl",
                                eval_dataset=heldout_dataset, compute_metrics=self.heldout_metrics,
                                resume_from=latest_checkpoint(scratch / "phase1"), extra_callbacks=job_callbacks)
            save_stage(scratch / "phase1-done", model, first, [scratch / "phase1.jsonl"])
        shutil.copyfile(scratch / "phase1-done" / "phase1.jsonl", scratch / "phase1.jsonl")
        self.phase = 2  # `model` now holds the best phase-1 weights (load_best_model_at_end)
        self.step_offset = first["optimizer_steps"]  # phase 2 continues the run's step count
        phase2_args = dataclasses.replace(args, output_dir=str(scratch / "phase2"), num_train_epochs=epochs[1])
        second = train_model(model, tokenizer, self, train_dataset, phase2_args, scratch / "phase2.jsonl",
                             resume_from=latest_checkpoint(scratch / "phase2"), extra_callbacks=job_callbacks)

        phases = [(scratch / "phase1.jsonl", {**first, "epochs": epochs[0]}),
                  (scratch / "phase2.jsonl", {**second, "epochs": epochs[1]})]
        tau_max = int(self.params["tau_max"])
        records = merged_log(phases, lambda epoch: annealing_t(epoch, epochs[0], tau_max))
        Path(log_path).write_text("".join(json.dumps(record) + "\n" for record in records))
        key = f"heldout_{self.task.main_metric}"
        scores = [(r["epoch"], r[key]) for r in records if r["phase"] == 1 and key in r]
        best_epoch, best_score = max(scores, key=lambda pair: pair[1])  # the first of equal scores, as the Trainer
        steps = first["optimizer_steps"] + second["optimizer_steps"]
        return {
            "train_seconds": first["train_seconds"] + second["train_seconds"],  # phase 1 includes its held-out scoring
            "optimizer_steps": steps,
            "finished_at": second["finished_at"],  # the run's real end (MLflow's duration)
            "resumed_from_step": second.get("resumed_from_step") or first.get("resumed_from_step"),
            "train_loss": (first["train_loss"] * first["optimizer_steps"]
                           + second["train_loss"] * second["optimizer_steps"]) / max(1, steps),
            "train_examples": first["train_examples"],
            **summed_facts([first, second]),  # tokens, passes and FLOPs of both phases
            "trainable_parameters": first["trainable_parameters"],
            "non_embedding_parameters": first["non_embedding_parameters"],
            "peak_rss_mb": max(first["peak_rss_mb"], second["peak_rss_mb"]),
            "phase1_steps": first["optimizer_steps"], "phase2_steps": second["optimizer_steps"],
            "phase1_seconds": first["train_seconds"], "phase2_seconds": second["train_seconds"],
            "phase1_train_loss": first["train_loss"], "phase2_train_loss": second["train_loss"],
            "phase1_heldout_scores": [score for _, score in scores],
            "phase1_best_epoch": int(round(best_epoch)), f"phase1_best_heldout_{self.task.main_metric}": best_score,
            "anneal_t_per_epoch": [annealing_t(e, epochs[0], tau_max) for e in range(math.ceil(epochs[0]))],
        }
