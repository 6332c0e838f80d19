"""LAWA, latest weight averaging (Kaddour 2022; Sanyal et al. 2023): the uniform mean of the last k checkpoints
taken every m optimizer steps.

The checkpoints are counted back from the last step, T, T-m, ..., T-(k-1)m, so the final weights are always the
latest one. Since the step budget is known when training starts, those steps are known too, and the mean is kept
as a running equal-weight average (swa.SWACollector, i.e. `torch.optim.swa_utils.AveragedModel`): one copy of the
weights instead of a queue of k. Against SWA the difference is the schedule: LAWA keeps fine-tuning's decaying LR
and averages only the very end of it; SWA holds a high constant LR over a longer averaging phase.
"""
from __future__ import annotations

from typing import Any

import torch
from transformers import TrainerCallback

from .base import TrainingMethod
from .swa import SWACollector


def lawa_steps(total_steps: int, k: int, every_steps: int) -> list[int]:
    """The optimizer steps whose weights are averaged: the last `k` of T, T-m, T-2m, ... that are >= 1, ascending.

    Never step 0: those are the weights before the first update (a random head), no checkpoint of this run. A budget
    shorter than (k-1) m + 1 steps holds fewer than k; `lawa_models_averaged` in the facts says how many.
    """
    return sorted(step for step in (total_steps - j * every_steps for j in range(k)) if step >= 1)


class LatestWeightAveraging(TrainingMethod):
    name = "lawa"

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.collector = SWACollector()  # handed to the Trainer before the step budget is known

    def start(self, total_steps: int, steps_per_epoch: int) -> None:
        super().start(total_steps, steps_per_epoch)
        every = self.params["lawa_every_steps"]
        self.every_steps = max(1, int(every) if every is not None else steps_per_epoch // 4)
        self.collector.steps = set(lawa_steps(total_steps, int(self.params["lawa_k"]), self.every_steps))

    def callbacks(self) -> list[TrainerCallback]:
        return [self.collector]

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The running mean of the checkpoints collected so far (it stands in for LAWA's queue of k checkpoints:
        which steps join it is fixed by the step budget) and which steps it holds."""
        return self.collector.state("lawa."), {"lawa_collected_steps": list(self.collector.collected_steps)}

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.collector.restore(model, tensors, "lawa.", meta.get("lawa_collected_steps", []))

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        model.load_state_dict(self.collector.averaged.module.state_dict())
        return {
            "lawa_k": int(self.params["lawa_k"]),
            "lawa_every_steps": self.every_steps,
            "lawa_collected_steps": list(self.collector.collected_steps),
            "lawa_models_averaged": int(self.collector.averaged.n_averaged.item()),
        }
