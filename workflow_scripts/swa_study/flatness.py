"""How flat is the training loss around a trained model: the measures of the "SWA finds flatter minima" link.

All measures evaluate one loss, `loss_fn(model, batch)` averaged over a fixed list of training batches (the same
rows for every run of a task, drawn with a seed), with the model in eval mode (no dropout), so each number is a
deterministic function of the weights:
  - interpolation: the loss at w(alpha) = (1 - alpha) w_a + alpha w_b, the straight line from one model to
    another (fine-tuning to SWA of the same seed; alpha 0 and 1 are the two models themselves);
  - random perturbations: the loss at w + r d for filter-normalised Gaussian directions d (Li et al. 2018: each
    row of a weight matrix of d is scaled to the norm of the same row of w; vectors such as biases and LayerNorm
    weights are left unperturbed), so a radius r means "r times the weights' own scale" in every filter;
  - the top eigenvalue of the Hessian by power iteration on Hessian-vector products (double backward);
  - the Hessian's trace by Hutchinson's estimator, the mean of v^T H v over Rademacher vectors v.
The functions take plain callables and parameter lists, so the unit tests check them on closed-form quadratics.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import torch

Batch = dict[str, torch.Tensor]
LossFn = Callable[[torch.nn.Module, Batch], torch.Tensor]


def trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


@torch.no_grad()
def mean_loss(model: torch.nn.Module, loss_fn: LossFn, batches: Sequence[Batch]) -> float:
    """The loss averaged over `batches` (each batch's mean, then the mean over batches), dropout off."""
    was_training = model.training
    model.eval()
    try:
        return float(sum(float(loss_fn(model, batch)) for batch in batches) / len(batches))
    finally:
        model.train(was_training)


@contextlib.contextmanager
def restored(params: Sequence[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
    """Yield a copy of the parameters' values; put them back afterwards, whatever happened in between."""
    saved = [p.detach().clone() for p in params]
    try:
        yield saved
    finally:
        with torch.no_grad():
            for p, value in zip(params, saved):
                p.copy_(value)


def interpolation_losses(model: torch.nn.Module, start: Sequence[torch.Tensor], end: Sequence[torch.Tensor],
                         alphas: Sequence[float], evaluate: Callable[[torch.nn.Module], dict[str, float]],
                         ) -> list[dict[str, float]]:
    """`evaluate(model)` at each w(alpha) = (1 - alpha) start + alpha end of the model's trainable parameters.

    `start` and `end` hold the two models' values of `trainable(model)`, in that order; the model's own weights
    are restored afterwards.
    """
    params = trainable(model)
    if not (len(params) == len(start) == len(end)):
        raise ValueError(f"interpolation: {len(params)} parameters, but {len(start)} and {len(end)} end points")
    results = []
    with restored(params):
        for alpha in alphas:
            with torch.no_grad():
                for p, a, b in zip(params, start, end):
                    p.copy_(torch.lerp(a, b, float(alpha)))  # a + alpha (b - a); alpha may leave [0, 1]
            results.append({"alpha": float(alpha), **evaluate(model)})
    return results


def filter_normalised_direction(params: Sequence[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
    """A Gaussian direction with each filter (row of a matrix; slice along dim 0 of a higher-order tensor) scaled
    to the norm of the same filter of the weights; vectors (biases, LayerNorm) get zero (Li et al. 2018)."""
    direction = []
    for p in params:
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype, device="cpu").to(p.device)
        if p.dim() <= 1:
            direction.append(torch.zeros_like(p))
            continue
        rows, weight_rows = d.view(d.size(0), -1), p.detach().view(p.size(0), -1)
        scale = weight_rows.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
        direction.append((rows * scale).view_as(p))
    return direction


def perturbation_losses(model: torch.nn.Module, loss: Callable[[torch.nn.Module], float], radii: Sequence[float],
                        directions: int, seed: int) -> list[list[float]]:
    """loss(w + r d_k) for each radius r (rows) and filter-normalised direction k (columns); weights restored.

    Direction k is drawn from torch.Generator seeded `seed + k`, so every run of a study sees directions drawn the
    same way (each scaled to its own weights).
    """
    params = trainable(model)
    table = [[0.0] * directions for _ in radii]
    with restored(params) as weights:
        for k in range(directions):
            direction = filter_normalised_direction(weights, torch.Generator().manual_seed(seed + k))
            for i, radius in enumerate(radii):
                with torch.no_grad():
                    for p, w, d in zip(params, weights, direction):
                        p.copy_(w + float(radius) * d)
                table[i][k] = loss(model)
    return table


def hessian_vector_product(closures: Sequence[Callable[[], torch.Tensor]], params: Sequence[torch.Tensor],
                           vector: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """H v for the mean of the losses the closures compute (one per batch), by double backward, batch by batch
    so that only one batch's graph is alive at a time."""
    total = [torch.zeros_like(p) for p in params]
    for closure in closures:
        loss = closure()
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        pairs = [(g, v) for g, v in zip(grads, vector) if g is not None]
        dot = sum((g * v).sum() for g, v in pairs)
        hv = torch.autograd.grad(dot, params, allow_unused=True)
        for acc, h in zip(total, hv):
            if h is not None:
                acc.add_(h.detach())
    return [t / len(closures) for t in total]


def _dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    return float(sum((x * y).sum() for x, y in zip(a, b)))


def power_iteration(hvp: Callable[[list[torch.Tensor]], list[torch.Tensor]], like: Sequence[torch.Tensor],
                    iterations: int, seed: int, tolerance: float = 1e-4,
                    shift: float = 0.0) -> tuple[list[float], float]:
    """Power iteration from a seeded Gaussian start: every iterate's Rayleigh quotient v^T H v, and |H v| of the
    last unit vector (which tends to the spectral radius). Stops early when the quotient moves by less than
    `tolerance` relative to the quotient minus `shift` (for H + sI, relative to the eigenvalue of H it estimates:
    relative to the shifted value, which s dominates, it would stop before it moved)."""
    generator = torch.Generator().manual_seed(seed)
    v = [torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device) for t in like]
    start_norm = _dot(v, v) ** 0.5
    v = [x / start_norm for x in v]
    history: list[float] = []
    norm = 0.0  # |H v| of the last unit v
    for _ in range(iterations):
        hv = hvp(v)
        history.append(_dot(v, hv))
        norm = _dot(hv, hv) ** 0.5
        if norm == 0.0:
            break
        v = [x / norm for x in hv]
        if len(history) > 1 and abs(history[-1] - history[-2]) <= tolerance * abs(history[-1] - shift):
            break
    return history, norm


def top_eigenvalue(hvp: Callable[[list[torch.Tensor]], list[torch.Tensor]], like: Sequence[torch.Tensor],
                   iterations: int, seed: int, tolerance: float = 1e-4) -> tuple[float, list[float], float]:
    """λ_max, the largest (algebraic) eigenvalue; the iterates that found it; the spectral radius max |λ|.

    Power iteration finds the eigenvalue of largest magnitude, and its Rayleigh quotient can settle early on a mix
    of +a and -a curvature. Away from a minimum (an average of weights can sit on a ridge of the training loss)
    either happens, and a "λ_max" of -200 beside +200 for another seed averages to nonsense. So the first pass is
    accepted only when it is positive and its vector is nearly an eigenvector (|Hv - ρv| <= 0.2 |Hv|); otherwise a
    second pass on H + rI (r = |Hv|, about the spectral radius; its eigenvalues λ + r are all >= 0, the largest is
    λ_max + r) finds λ_max. Iterates are reported in λ's units.
    """
    history, radius = power_iteration(hvp, like, iterations, seed, tolerance)
    rayleigh = history[-1]
    residual = max(radius ** 2 - rayleigh ** 2, 0.0) ** 0.5
    if rayleigh > 0 and residual <= 0.2 * radius:
        return rayleigh, history, radius

    def shifted(v: list[torch.Tensor]) -> list[torch.Tensor]:
        return [h + radius * x for h, x in zip(hvp(v), v)]

    shifted_history, _ = power_iteration(shifted, like, iterations, seed + 1, tolerance, shift=radius)
    top = [value - radius for value in shifted_history]
    return top[-1], history + top, radius


def hutchinson_trace(hvp: Callable[[list[torch.Tensor]], list[torch.Tensor]], like: Sequence[torch.Tensor],
                     samples: int, seed: int) -> tuple[float, float]:
    """tr(H) estimated as the mean of v^T H v over `samples` Rademacher vectors; returns (mean, standard error)."""
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(samples):
        v = [(torch.randint(0, 2, t.shape, generator=generator) * 2 - 1).to(t.dtype).to(t.device) for t in like]
        values.append(_dot(v, hvp(v)))
    mean = sum(values) / len(values)
    spread = (sum((x - mean) ** 2 for x in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else float("nan")
    return mean, spread / len(values) ** 0.5
