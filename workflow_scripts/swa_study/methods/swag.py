"""SWA-Gaussian (Maddox et al., NeurIPS 2019): a Gaussian over the weights from the moments of SWA's iterates.

Training is SWA's (same schedule, same collection steps, the same running mean, which is the saved model); at each
collection the collector also updates the second moment sq_mean = mean of w^2 and appends the deviation w_i - mean_i
(from the running mean after adding w_i, as in the authors' code) to a deviation matrix D that keeps the last
`swag_rank` columns. The moments go into model/swag_moments.safetensors beside the SWA mean's weights.

Sampling (`sample_weights`): with K the columns of D,
    w = mean + sqrt(scale) * ( diag(sqrt(max(sq_mean - mean^2, eps))) z1 + D z2 / sqrt(K - 1) ),  z1, z2 ~ N(0, I),
i.e. covariance scale * (Sigma_diag + D D^T / (K - 1)). At scale 0.5 (the paper's experiments) this is the
paper's 1/sqrt(2) and 1/sqrt(2(K-1)) factors, and the authors' code's `scale` argument. With K < 2 the low-rank term
is left out (SWAG-Diagonal). The paper divides by K - 1 for the K columns it holds; so do we (the authors' code uses
the configured maximum, which differs only while fewer columns exist). Evaluation (swa_study/swag_bma.py) averages
the predictive distributions of S samples: Bayesian model averaging.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch

from ..models import SWAG_FILE
from .swa import SWACollector, StochasticWeightAveraging

VARIANCE_FLOOR = 1e-30  # the authors' clamp of sq_mean - mean^2, which rounding can push below zero


class SWAGCollector(SWACollector):
    """SWA's running mean (AveragedModel), plus the running second moment and the last `rank` deviations."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank
        self.sq_mean: dict[str, torch.Tensor] = {}
        self.deviations: deque[dict[str, torch.Tensor]] = deque(maxlen=max(1, rank))

    @torch.no_grad()
    def collect(self, model: torch.nn.Module, step: int) -> None:
        super().collect(model, step)  # the mean now includes w_i
        n = int(self.averaged.n_averaged.item())
        mean = dict(self.averaged.module.named_parameters())
        deviation = {}
        for name, param in model.named_parameters():
            w = param.detach().float()
            if name not in self.sq_mean:
                self.sq_mean[name] = (w * w).clone()
            else:
                self.sq_mean[name] += (w * w - self.sq_mean[name]) / n
            deviation[name] = (w - mean[name].detach().float()).cpu()
        if self.rank:
            self.deviations.append(deviation)

    def moments(self) -> dict[str, torch.Tensor]:
        """{"sq_mean.<param>": tensor, "deviations.<param>": (K, *shape)}: what sampling needs besides the mean."""
        tensors = {f"sq_mean.{name}": value.cpu().contiguous() for name, value in self.sq_mean.items()}
        if self.rank and self.deviations:
            for name in self.sq_mean:
                tensors[f"deviations.{name}"] = torch.stack([d[name] for d in self.deviations]).contiguous()
        return tensors

    def restore_moments(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
        """Rebuild the second moment (on the weights' device, where `collect` updates it) and the deviation columns
        (oldest first, so the deque drops the same one next) from what `moments` returned."""
        sq_mean, deviations = split_moments(tensors)
        devices = {name: param.device for name, param in model.named_parameters()}
        self.sq_mean = {name: value.to(devices[name]) for name, value in sq_mean.items()}
        self.deviations.clear()
        columns = next(iter(deviations.values())).shape[0] if deviations else 0
        for j in range(columns):
            self.deviations.append({name: stacked[j].clone() for name, stacked in deviations.items()})


def diagonal_variance(mean: dict[str, torch.Tensor], sq_mean: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SWAG's diagonal: the collected second moment minus the squared mean, floored at VARIANCE_FLOOR."""
    return {name: (sq_mean[name] - mean[name].float() ** 2).clamp_min(VARIANCE_FLOOR) for name in mean}


def sample_weights(mean: dict[str, torch.Tensor], sq_mean: dict[str, torch.Tensor],
                   deviations: dict[str, torch.Tensor], scale: float, generator: torch.Generator
                   ) -> dict[str, torch.Tensor]:
    """One weight set drawn from SWAG's Gaussian (see the module docstring); `deviations` may be empty."""
    variance = diagonal_variance(mean, sq_mean)
    columns = next(iter(deviations.values())).shape[0] if deviations else 0
    z2 = torch.randn(columns, generator=generator) if columns >= 2 else None
    sample = {}
    for name, centre in mean.items():
        z1 = torch.randn(centre.shape, generator=generator)
        noise = variance[name].sqrt() * z1
        if z2 is not None:
            low_rank = torch.tensordot(z2, deviations[name].float(), dims=1)
            noise = noise + low_rank / math.sqrt(columns - 1)
        sample[name] = (centre.float() + math.sqrt(scale) * noise).to(centre.dtype)
    return sample


def split_moments(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(sq_mean, deviations) by parameter name, from the tensors of a SWAG moments file."""
    sq_mean = {k.removeprefix("sq_mean."): v for k, v in tensors.items() if k.startswith("sq_mean.")}
    deviations = {k.removeprefix("deviations."): v for k, v in tensors.items() if k.startswith("deviations.")}
    return sq_mean, deviations


class SWAGaussian(StochasticWeightAveraging):
    name = "swag"  # its keys are swa's and its own (config/methods.yaml: inherits)

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.collector = SWAGCollector(int(self.params["swag_rank"]))

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        facts = super().finish(model)  # the SWA mean becomes the model
        return {**facts, "swag_rank": self.collector.rank,
                "swag_deviation_columns": len(self.collector.deviations) if self.collector.rank else 0}

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """SWA's running mean (the SWAG mean) and collected steps, plus the second moment and deviation columns."""
        tensors, meta = super().state_dict()
        tensors.update({f"swag.{k}": v for k, v in self.collector.moments().items()})
        return tensors, {**meta, "swag_deviation_columns": len(self.collector.deviations)}

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        super().load_state_dict(model, tensors, meta)
        self.collector.restore_moments(model, {k.removeprefix("swag."): v for k, v in tensors.items()
                                               if k.startswith("swag.")})

    def saved_files(self) -> dict[str, dict[str, torch.Tensor]]:
        return {SWAG_FILE: self.collector.moments()}
