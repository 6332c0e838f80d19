"""Exponential moving average (EMA) of the weights, updated after every optimizer step; the EMA is the model.

w_ema(0) = w(0); after step n: w_ema(n) = d_n w_ema(n-1) + (1 - d_n) w(n), with d_n = min(decay, (1+n)/(10+n))
(the warm-up of TensorFlow's ExponentialMovingAverage with num_updates, so early, near-random weights are forgotten
quickly) or d_n = decay without warm-up. Fine-tuning's LR schedule is unchanged: EMA costs one lerp per step.
`torch.optim.swa_utils.AveragedModel` keeps the copy; its `n_averaged` counter is exactly n (the start counts as
the first model), so each update uses `get_ema_multi_avg_fn` at that step's decay. At the end the EMA weights
replace the live ones, so what is saved and evaluated is the EMA.

Over a fine-tuning budget of ~150 steps the warm-up governs throughout (d_141 = 0.94 < 0.999): the EMA then weighs
roughly the last (10+n)/9 steps, a trailing average much shorter than SWA's window.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from transformers import TrainerCallback

from .base import TrainingMethod


def ema_decay(decay: float, step: int, warmup: bool) -> float:
    """The decay d_n of the update after optimizer step `step` (n >= 1)."""
    return min(decay, (1 + step) / (10 + step)) if warmup else decay


def warmup_ema_multi_avg_fn(decay: float, warmup: bool) -> Callable:
    """An AveragedModel `multi_avg_fn` whose decay follows `ema_decay` of the update count it is handed."""

    def update(ema_params, model_params, n_averaged: torch.Tensor) -> None:
        get_ema_multi_avg_fn(ema_decay(decay, int(n_averaged.item()), warmup))(ema_params, model_params, n_averaged)

    return update


class EMACollector(TrainerCallback):
    """Starts the EMA from the weights at the start of training and updates it after every optimizer step."""

    def __init__(self, decay: float, warmup: bool) -> None:
        self.decay, self.warmup = decay, warmup
        self.averaged: AveragedModel | None = None
        self.updates = 0

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.averaged is None:
            self.averaged = AveragedModel(model, multi_avg_fn=warmup_ema_multi_avg_fn(self.decay, self.warmup))
            self.averaged.update_parameters(model)  # a copy: w_ema(0) = w(0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.averaged.update_parameters(model)
        self.updates += 1


class ExponentialMovingAverage(TrainingMethod):
    name = "ema"

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.collector = EMACollector(float(self.params["ema_decay"]), bool(self.params["ema_decay_warmup"]))

    def callbacks(self) -> list[TrainerCallback]:
        return [self.collector]

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The EMA weights with their update count (AveragedModel's `n_averaged`, which sets the warm-up decay)."""
        averaged = self.collector.averaged
        tensors = {f"ema.{k}": v.clone() for k, v in averaged.state_dict().items()} if averaged is not None else {}
        return tensors, {"ema_updates": self.collector.updates}

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Rebuild the EMA before training resumes, so `on_train_begin` does not restart it from the live weights."""
        self.collector.updates = int(meta.get("ema_updates", 0))
        averaged = {k.removeprefix("ema."): v for k, v in tensors.items() if k.startswith("ema.")}
        if averaged:
            collector = self.collector
            collector.averaged = AveragedModel(model, multi_avg_fn=warmup_ema_multi_avg_fn(collector.decay,
                                                                                            collector.warmup))
            collector.averaged.load_state_dict(averaged)

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        model.load_state_dict(self.collector.averaged.module.state_dict())
        steps = self.collector.updates
        return {
            "ema_updates": steps,
            "ema_decay": self.collector.decay,
            "ema_decay_warmup": self.collector.warmup,
            "ema_final_decay": ema_decay(self.collector.decay, steps, self.collector.warmup) if steps else None,
        }
