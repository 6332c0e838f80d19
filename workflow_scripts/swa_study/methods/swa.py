"""Stochastic Weight Averaging adapted to fine-tuning PLMs (Lu et al. 2022, Algorithm 1).

Three changes against computer-vision SWA: a high *constant* LR in the averaging phase, averaging every K optimizer
*steps*, and an *earlier* start. The weights at `swa_start` count as the first model of the running mean, then the
weights after every K further steps are added. `torch.optim.swa_utils.AveragedModel` keeps the equal-weight mean.
At the end the average replaces the live weights, so what is saved and evaluated is the averaged model.
LayerNorm has no running statistics, so no BatchNorm-style recomputation is needed.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel
from transformers import TrainerCallback

from ..schedules import swa_constant_after_start
from .base import TrainingMethod


class SWACollector(TrainerCallback):
    """Adds the live weights to the running average at `start_step` and every `every_steps` steps after it."""

    def __init__(self, start_step: int = 0, every_steps: int = 1):
        self.start_step = start_step  # both are set again once the step budget is known
        self.every_steps = every_steps
        self.averaged: AveragedModel | None = None
        self.collected_steps: list[int] = []

    def should_collect(self, step: int) -> bool:
        return step >= self.start_step and (step - self.start_step) % self.every_steps == 0

    def collect(self, model: torch.nn.Module, step: int) -> None:
        if self.averaged is None:
            self.averaged = AveragedModel(model)
        self.averaged.update_parameters(model)
        self.collected_steps.append(step)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.should_collect(state.global_step) and state.global_step not in self.collected_steps:
            self.collect(model, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.should_collect(state.global_step):
            self.collect(model, state.global_step)


class StochasticWeightAveraging(TrainingMethod):
    name = "swa"
    defaults = {
        "swa_start": 0.5,  # fraction of all optimizer steps after which averaging starts (the paper: earlier than 0.75)
        "swa_lr": None,  # constant LR of the averaging phase; None = the base learning rate
        "swa_every_steps": None,  # K; None = a quarter of an epoch
    }

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.base_lr = float(params["learning_rate"])
        self.collector = SWACollector()  # handed to the Trainer before the step budget is known

    def start(self, total_steps: int, steps_per_epoch: int) -> None:
        super().start(total_steps, steps_per_epoch)
        self.start_step = min(total_steps, int(round(float(self.params["swa_start"]) * total_steps)))
        every = self.params["swa_every_steps"]
        self.every_steps = max(1, int(every) if every is not None else steps_per_epoch // 4)
        swa_lr = self.params["swa_lr"]
        self.swa_lr_factor = (float(swa_lr) if swa_lr is not None else self.base_lr) / self.base_lr
        self.collector.start_step, self.collector.every_steps = self.start_step, self.every_steps

    def lr_factor(self, step: int) -> float:
        return swa_constant_after_start(step, self.total_steps, self.warmup_steps, self.start_step, self.swa_lr_factor)

    def callbacks(self) -> list[TrainerCallback]:
        return [self.collector]

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        averaged = self.collector.averaged
        if averaged is None:  # training ended before the averaging phase: nothing to average
            raise RuntimeError(f"SWA collected no weights: swa_start step {self.start_step} > last step")
        model.load_state_dict(averaged.module.state_dict())
        return {
            "swa_start_step": self.start_step,
            "swa_every_steps": self.every_steps,
            "swa_lr": self.swa_lr_factor * self.base_lr,
            "swa_collected_steps": list(self.collector.collected_steps),
            "swa_models_averaged": int(averaged.n_averaged.item()),
        }
