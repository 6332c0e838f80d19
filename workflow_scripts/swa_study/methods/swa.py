"""Stochastic Weight Averaging adapted to fine-tuning PLMs (Lu et al. 2022, Algorithm 1), with its ablations.

Three changes against computer-vision SWA (Izmailov et al. 2018), each a key of config/methods.yaml so that one
variant reverts it:
  - a high *constant* LR in the averaging phase (`swa_schedule: constant`), not a cyclical one (`cyclic`: within each
    cycle the LR falls linearly from swa_lr to swa_lr_min, and the weights are collected at the cycle's end, where
    the LR is lowest);
  - averaging every K optimizer *steps* (`swa_every: steps`), not once per epoch (`epoch`: at each epoch's end);
  - an *earlier* start (`swa_start`, default 0.5 of the steps; CV SWA starts at 0.75).
The weights at `swa_start` count as the first model of the running mean (in both papers' Algorithm 1), then the
weights at every collection step are added. `torch.optim.swa_utils.AveragedModel` keeps the equal-weight mean.
At the end the average replaces the live weights, so what is saved and evaluated is the averaged model.
LayerNorm has no running statistics, so no BatchNorm-style recomputation is needed.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_swa_multi_avg_fn
from transformers import TrainerCallback

from ..schedules import warmup_linear_decay
from .base import TrainingMethod


def collection_steps(total_steps: int, start_step: int, every_steps: int, per_epoch: bool,
                     steps_per_epoch: int) -> list[int]:
    """The steps (finished optimizer updates) after which the live weights join the average.

    The start itself, then every `every_steps` steps, or (`per_epoch`) the end of every epoch after the start.
    """
    if per_epoch:
        epochs = math.ceil(total_steps / max(1, steps_per_epoch))
        ends = sorted({min(total_steps, e * steps_per_epoch) for e in range(1, epochs + 1)})
        return [start_step] + [step for step in ends if step > start_step]
    return list(range(start_step, total_steps + 1, max(1, every_steps)))


def averaging_lr_factor(step: int, collections: list[int], cycle: int, high: float, low: float,
                        cyclic: bool) -> float:
    """The LR factor of the update after `step` finished ones, in the averaging phase (step >= collections[0]).

    constant: `high`. cyclic: each cycle runs from one collection to the next and the LR falls linearly from
    `high` to `low` over it, reaching `low` on the cycle's last update (Izmailov et al.: t = (mod(i - 1, c) + 1) / c).
    After the last collection, cycles of length `cycle` continue.
    """
    if not cyclic:
        return high
    previous = max(c for c in collections if c <= step)
    following = [c for c in collections if c > step]
    length = (following[0] if following else previous + cycle) - previous
    t = (step - previous + 1) / max(1, length)
    return (1 - t) * high + t * low


def running_mean(model: torch.nn.Module) -> AveragedModel:
    """One copy of the weights, updated in place by one foreach lerp (AveragedModel's default on a CPU is a
    per-tensor loop with temporaries)."""
    return AveragedModel(model, multi_avg_fn=get_swa_multi_avg_fn())


class SWACollector(TrainerCallback):
    """Adds the live weights to the running average at each of `steps` (set once the step budget is known)."""

    def __init__(self) -> None:
        self.steps: set[int] = set()
        self.averaged: AveragedModel | None = None
        self.collected_steps: list[int] = []

    def collect(self, model: torch.nn.Module, step: int) -> None:
        if self.averaged is None:
            self.averaged = running_mean(model)
        self.averaged.update_parameters(model)
        self.collected_steps.append(step)

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        """The running average (weights and count) as tensors under `prefix`, for a resumable checkpoint."""
        if self.averaged is None:
            return {}
        return {f"{prefix}{k}": v.clone() for k, v in self.averaged.state_dict().items()}

    def restore(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str,
                collected_steps: list[int]) -> None:
        """Rebuild the running average that `state(prefix)` saved (a fresh process has none yet)."""
        self.collected_steps = list(collected_steps)
        averaged = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
        if averaged:
            self.averaged = running_mean(model)  # the same update rule, or a resumed mean drifts
            self.averaged.load_state_dict(averaged)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.steps and state.global_step not in self.collected_steps:
            self.collect(model, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.steps:
            self.collect(model, state.global_step)


class StochasticWeightAveraging(TrainingMethod):
    name = "swa"

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.base_lr = float(params["learning_rate"])
        self.collector = SWACollector()  # handed to the Trainer before the step budget is known

    def start(self, total_steps: int, steps_per_epoch: int) -> None:
        super().start(total_steps, steps_per_epoch)
        p = self.params
        self.start_step = min(total_steps, int(round(float(p["swa_start"]) * total_steps)))
        every = p["swa_every_steps"]
        self.every_steps = max(1, int(every) if every is not None else steps_per_epoch // 4)
        self.per_epoch = p["swa_every"] == "epoch"
        self.cyclic = p["swa_schedule"] == "cyclic"
        swa_lr = float(p["swa_lr"]) if p["swa_lr"] is not None else self.base_lr
        swa_lr_min = float(p["swa_lr_min"]) if p["swa_lr_min"] is not None else swa_lr / 10
        self.high, self.low = swa_lr / self.base_lr, swa_lr_min / self.base_lr
        self.collections = collection_steps(total_steps, self.start_step, self.every_steps, self.per_epoch,
                                            steps_per_epoch)
        self.collector.steps = set(self.collections)

    def lr_factor(self, step: int) -> float:
        """Fine-tuning's schedule until averaging starts, then the averaging phase's (constant or cyclic) LR."""
        if step < self.start_step:
            return warmup_linear_decay(step, self.total_steps, self.warmup_steps)
        cycle = self.steps_per_epoch if self.per_epoch else self.every_steps
        return averaging_lr_factor(step, self.collections, cycle, self.high, self.low, self.cyclic)

    def callbacks(self) -> list[TrainerCallback]:
        return [self.collector]

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The running average (its weights and count) and the steps it holds, for a resumable checkpoint."""
        return self.collector.state("swa."), {"swa_collected_steps": list(self.collector.collected_steps)}

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.collector.restore(model, tensors, "swa.", meta.get("swa_collected_steps", []))

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        averaged = self.collector.averaged
        if averaged is None:  # training ended before the averaging phase: nothing to average
            raise RuntimeError(f"SWA collected no weights: swa_start step {self.start_step} > last step")
        model.load_state_dict(averaged.module.state_dict())
        return {
            "swa_start_step": self.start_step,
            "swa_every_steps": None if self.per_epoch else self.every_steps,
            "swa_every": "epoch" if self.per_epoch else "steps",
            "swa_schedule": "cyclic" if self.cyclic else "constant",
            "swa_lr": self.high * self.base_lr,
            "swa_lr_min": self.low * self.base_lr if self.cyclic else None,
            "swa_collected_steps": list(self.collector.collected_steps),
            "swa_models_averaged": int(averaged.n_averaged.item()),
        }
