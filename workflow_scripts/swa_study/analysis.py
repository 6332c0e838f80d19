"""The flatness analysis of one trained run, within its budget (config `analysis:`), timed measure by measure.

The fixed batches are drawn from the task's training split with `analysis.seed`, so every run of a task (every
method and seed) is measured on the same rows. The loss is the task's supervised loss (losses.py; it serves all
three families); the line's dev metric is the task's main metric on a seeded dev subset (classification only:
QA span search and beam-search decoding at every alpha would cost more than the run itself, so QA and generation
runs get the line's training loss only). Models are switched to the eager attention: the fused SDPA kernels have
no double backward, which Hessian-vector products need.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import datasets
import numpy as np
import torch

from .flatness import (hessian_vector_product, hutchinson_trace, interpolation_losses, mean_loss,
                       perturbation_losses, top_eigenvalue, trainable)
from .losses import forward_logits, supervised_loss
from .study.tasks import TaskSpec
from .prediction import PadCollator, model_columns


@dataclass
class AnalysisSettings:
    """Config `analysis:` (config/schema.yaml holds the defaults and says what each key means and why)."""

    batches: int
    batch_size: int
    seed: int
    dev_size: int | None
    alphas: list[float]
    radii: list[float]
    directions: int
    sharpness_radius: float
    hessian_batches: int
    power_iterations: int
    power_tolerance: float
    hutchinson_samples: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "AnalysisSettings":
        return cls(**{k: params[k] for k in cls.__dataclass_fields__ if k in params})


def use_eager_attention(model: torch.nn.Module) -> torch.nn.Module:
    """Switch every attention module of `model` (an encoder-decoder's too) to the eager implementation."""
    for module in [model, *[getattr(model, name, None) for name in ("encoder", "decoder")]]:
        if module is not None and hasattr(module, "set_attn_implementation"):
            module.set_attn_implementation("eager")
    return model


def fixed_batches(train: datasets.Dataset, tokenizer, count: int, batch_size: int, seed: int,
                  ) -> tuple[list[dict[str, torch.Tensor]], list[int]]:
    """`count` batches of `batch_size` rows drawn without replacement (seeded), and the rows' `idx` values."""
    rows = np.random.default_rng(seed).permutation(len(train))[: count * batch_size]
    chosen = train.select(rows.tolist())
    ids = [int(i) for i in chosen["idx"]] if "idx" in chosen.column_names else rows.tolist()
    chosen = chosen.select_columns(model_columns(chosen))
    collate = PadCollator(tokenizer)
    batches = [collate([chosen[i] for i in range(start, min(start + batch_size, len(chosen)))])
               for start in range(0, len(chosen), batch_size)]
    return batches, ids


def task_loss(task: TaskSpec) -> Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]:
    return lambda model, batch: supervised_loss(task, forward_logits(model, batch), batch["labels"])


def dev_metric(task: TaskSpec, tokenizer, dev: datasets.Dataset | None) -> Callable[[torch.nn.Module], dict]:
    """model -> {"dev_<main metric>": value} on `dev` (classification), or {} for families scored otherwise."""
    if dev is None or task.family != "classification":
        return lambda model: {}
    from .evaluation import evaluate_splits

    def score(model: torch.nn.Module) -> dict[str, float]:
        metrics, _ = evaluate_splits(model, tokenizer, task, {"validation": dev})
        return {f"dev_{task.main_metric}": metrics["validation"][task.main_metric]}

    return score


def seeded_subset(split: datasets.Dataset, size: int | None, seed: int) -> datasets.Dataset:
    if size is None or size >= len(split):
        return split
    return split.select(np.random.default_rng(seed).permutation(len(split))[:size].tolist())


def analyse_run(model: torch.nn.Module, tokenizer, task: TaskSpec, train: datasets.Dataset,
                dev: datasets.Dataset | None, settings: AnalysisSettings,
                line_start: torch.nn.Module | None = None) -> dict[str, Any]:
    """Every measure of config `analysis:` on `model` (weights left as they were), with the seconds each took."""
    model = use_eager_attention(model).eval()
    batches, rows = fixed_batches(train, tokenizer, settings.batches, settings.batch_size, settings.seed)
    loss_fn = task_loss(task)
    seconds: dict[str, float] = {}
    result: dict[str, Any] = {"batches": {"count": len(batches), "batch_size": settings.batch_size,
                                          "seed": settings.seed, "rows": rows}}

    started = time.perf_counter()
    result["loss"] = mean_loss(model, loss_fn, batches)
    table = perturbation_losses(model, lambda m: mean_loss(m, loss_fn, batches), settings.radii,
                                settings.directions, settings.seed)
    result["perturbation"] = {
        "radii": list(settings.radii), "losses": table,
        "mean": [float(np.mean(row)) for row in table], "std": [float(np.std(row, ddof=1)) if len(row) > 1
                                                                 else math.nan for row in table],
    }
    at = settings.radii.index(settings.sharpness_radius)
    result["sharpness"] = {"radius": settings.sharpness_radius, "value": result["perturbation"]["mean"][at] - result["loss"]}
    seconds["perturbation"] = time.perf_counter() - started

    params = trainable(model)
    closures = [lambda b=b: loss_fn(model, b) for b in batches[: settings.hessian_batches]]
    hvp = lambda v: hessian_vector_product(closures, params, v)  # noqa: E731
    hessian: dict[str, Any] = {"batches": len(closures)}
    if closures and settings.power_iterations > 0:
        started = time.perf_counter()
        value, history, radius = top_eigenvalue(hvp, params, settings.power_iterations, settings.seed,
                                                settings.power_tolerance)
        converged = len(history) > 1 and abs(history[-1] - history[-2]) <= settings.power_tolerance * abs(value)
        hessian.update(top_eigenvalue=value, spectral_radius=radius, power_history=history,
                       converged=converged)
        seconds["top_eigenvalue"] = time.perf_counter() - started
    if closures and settings.hutchinson_samples > 0:
        started = time.perf_counter()
        trace, error = hutchinson_trace(hvp, params, settings.hutchinson_samples, settings.seed)
        hessian.update(trace=trace, trace_error=error, trace_samples=settings.hutchinson_samples)
        seconds["trace"] = time.perf_counter() - started
    result["hessian"] = hessian

    result["interpolation"] = None
    if line_start is not None:
        started = time.perf_counter()
        dev_rows = seeded_subset(dev, settings.dev_size, settings.seed) if dev is not None else None
        score = dev_metric(task, tokenizer, dev_rows)
        start = [p.detach().clone() for p in trainable(line_start)]
        end = [p.detach().clone() for p in params]
        points = interpolation_losses(model, start, end, settings.alphas,
                                      lambda m: {"train_loss": mean_loss(m, loss_fn, batches), **score(m)})
        result["interpolation"] = {"alphas": list(settings.alphas), "points": points,
                                   "dev_rows": len(dev_rows) if dev_rows is not None else 0}
        seconds["interpolation"] = time.perf_counter() - started
    result["seconds"] = {**seconds, "total": sum(seconds.values())}
    return result
