"""Sharpness-aware minimisation (Foret et al., ICLR 2021): min over w of max over |e| <= rho of L(w + e).

Per micro-batch, two forward/backward passes through the Trainer's own step: the gradient g at w gives the ascent
step e = rho g / |g| (the first-order solution of the inner max, |.| the global L2 norm over all weights); the
gradient at w + e is the one the optimizer uses, applied at w (the weights are restored exactly from a copy). So
fine-tuning's optimizer, schedule, gradient clipping (of the gradient at w + e, before the step) and the last weights
are unchanged; only the gradient differs, at twice the compute. The reported training loss is L(w), the first pass.

Details that keep it exact and comparable:
- Both passes draw the same dropout masks (the first runs under `torch.random.fork_rng`): e is the ascent direction
  of the very mini-batch loss the second pass differentiates, and the RNG then advances as in one plain step, so
  later batches see the same randomness as fine-tuning with the same seed.
- Gradient accumulation: each micro-batch gets its own e (Foret et al.'s m-sharpness with m = the micro-batch, as
  their data-parallel implementation does per device); gradients of earlier micro-batches are set aside during the
  two passes and added back, so the optimizer step sees the sum over micro-batches as usual.
- The compute record shows the cost: forward_backward_passes (2 per micro-batch), and train_flops counts both
  passes (`pass_tokens`).
"""
from __future__ import annotations

from typing import Any

import torch

from .base import TrainingMethod


def sam_perturbation(grads: list[torch.Tensor | None], rho: float) -> list[torch.Tensor | None]:
    """e = rho g / |g| per tensor, |g| the L2 norm over all of them; zero when the gradient is zero."""
    present = [g for g in grads if g is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in present])) \
        if present else torch.tensor(0.0)
    scale = rho / (float(norm) + 1e-12)
    return [None if g is None else g * scale for g in grads]


def _rng_devices(params: list[torch.nn.Parameter]) -> list[int]:
    return sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})


class SharpnessAwareMinimization(TrainingMethod):
    name = "sam"

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.rho = float(self.params["sam_rho"])
        self.passes = 0

    def training_step(self, default_step, model: torch.nn.Module, inputs: dict[str, Any],
                      num_items_in_batch=None) -> torch.Tensor:
        params = [p for p in model.parameters() if p.requires_grad]
        earlier = [p.grad for p in params]  # gradients of this optimizer step's earlier micro-batches
        for p in params:
            p.grad = None
        with torch.random.fork_rng(devices=_rng_devices(params)):
            loss = default_step(model, inputs, num_items_in_batch)  # pass 1: g at w
        ascent = sam_perturbation([p.grad for p in params], self.rho)
        with torch.no_grad():
            weights = [p.detach().clone() for p in params]
            for p, e in zip(params, ascent):
                p.grad = None
                if e is not None:
                    p.add_(e.to(p.dtype))
        default_step(model, inputs, num_items_in_batch)  # pass 2: the gradient at w + e, same dropout masks
        with torch.no_grad():
            for p, w, g in zip(params, weights, earlier):
                p.copy_(w)
                if g is not None:
                    p.grad = g if p.grad is None else p.grad.add_(g)
        self.passes += 2
        return loss

    def pass_tokens(self, tokens: int) -> dict[str, dict[str, int]]:
        """Two forward and two backward passes of the student on every micro-batch."""
        return {"student": {"forward": 2 * tokens, "backward": 2 * tokens}}

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The pass count; SAM keeps no other state between steps (the ascent step is rebuilt per micro-batch, and
        its dropout draws are forked off the global RNG, which the Trainer's checkpoint restores). SAM + SWA: SWA's
        running average comes from the next class in the method order."""
        tensors, meta = super().state_dict()
        return tensors, {**meta, "sam_forward_backward_passes": self.passes}

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        super().load_state_dict(model, tensors, meta)
        self.passes = int(meta.get("sam_forward_backward_passes", 0))

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        facts = super().finish(model)  # SAM + SWA: SWA's average and facts come first in the method order
        micro_batches = self.passes // 2
        return {**facts, "sam_rho": self.rho, "forward_backward_passes": self.passes,
                "forward_backward_passes_per_micro_batch": 2 if micro_batches else None}
