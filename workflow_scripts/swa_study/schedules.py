"""Learning-rate schedules, as multipliers of the base learning rate for `torch.optim.lr_scheduler.LambdaLR`.

`step` counts finished optimizer updates, so the factor for `step` is the one the next update uses.
"""
from __future__ import annotations


def warmup_linear_decay(step: int, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up to the base LR, then linear decay to zero at `total_steps` (BERT's recipe)."""
    if step < warmup_steps:
        return (step + 1) / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
