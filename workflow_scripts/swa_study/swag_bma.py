"""SWAG's evaluation: Bayesian model averaging over weight sets sampled from its Gaussian, beside the SWA mean.

The saved model of a SWAG run is the SWA mean, with the moments in model/swag_moments.safetensors. Its metrics.json
then holds both: `validation` (and `test`) = the BMA of S samples, the method's own prediction; and
`validation_swa_mean` (`test_swa_mean`, `reliability_swa_mean`) = the mean model alone, SWAG's "own single model".
BMA averages the predictive distributions (softmax probabilities) of the S samples and scores their mean; for
regression it averages the predicted scores (the posterior predictive mean). Samples are drawn from a generator
seeded with the run's seed, so a rerun repeats them; S and the scale are the run's `swag_samples`, `swag_scale`.

Only classification gets BMA: span search (QA) and beam search (generation) over averaged distributions have no
cheap exact form (BMA of a span is not the product of averaged start and end marginals; BMA of a sentence needs
the average of S models inside every beam step), so those families report the SWA mean and say so in `swag`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from .calibration import probabilities
from .evaluation import score_splits, split_logits
from .methods.swag import sample_weights, split_moments
from .models import SWAG_FILE
from .study.tasks import TaskSpec


@torch.no_grad()
def bma_outputs(model: torch.nn.Module, tokenizer, task: TaskSpec, splits: dict[str, datasets.Dataset],
                moments: dict[str, torch.Tensor], samples: int, scale: float, seed: int) -> dict[str, np.ndarray]:
    """Per split, log of the mean predicted probabilities over `samples` weight sets (regression: the mean score).

    The model holds the mean on entry and on return."""
    sq_mean, deviations = split_moments(moments)
    params = dict(model.named_parameters())
    mean = {name: params[name].detach().clone() for name in sq_mean}
    generator = torch.Generator().manual_seed(seed)
    totals: dict[str, np.ndarray] = {}
    try:
        for _ in range(samples):
            for name, value in sample_weights(mean, sq_mean, deviations, scale, generator).items():
                params[name].copy_(value)
            for split, logits in split_logits(model, tokenizer, splits).items():
                outputs = logits if task.is_regression else probabilities(logits)
                totals[split] = totals.get(split, 0.0) + outputs
    finally:
        for name, value in mean.items():
            params[name].copy_(value)
    averaged = {split: total / samples for split, total in totals.items()}
    if task.is_regression:
        return averaged
    return {split: np.log(np.maximum(probs, np.finfo(np.float64).tiny)) for split, probs in averaged.items()}


def swag_evaluation(model: torch.nn.Module, tokenizer, task: TaskSpec, splits: dict[str, datasets.Dataset],
                    model_dir: str | Path, hyperparameters: dict[str, Any], seed: int, calibration_bins: int,
                    mean_metrics: dict[str, Any], mean_predictions: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """(metrics, predictions) of a SWAG run: BMA as the run's scores and the SWA mean's beside them."""
    samples, scale = int(hyperparameters["swag_samples"]), float(hyperparameters["swag_scale"])
    moments = load_file(str(Path(model_dir) / SWAG_FILE))
    columns = next((v.shape[0] for k, v in moments.items() if k.startswith("deviations.")), 0)
    facts = {"samples": samples, "scale": scale, "seed": seed, "deviation_columns": columns}
    if task.family != "classification":
        return {**mean_metrics, "swag": {**facts, "bma": False, "reported": "swa_mean",
                                         "reason": f"no cheap Bayesian model averaging for the {task.family} family"}}, \
            mean_predictions
    outputs = bma_outputs(model, tokenizer, task, splits, moments, samples, scale, seed)
    metrics, predictions = score_splits(task, splits, outputs, calibration_bins)
    for key in ("validation", "test", "reliability"):
        if key in mean_metrics:
            metrics[f"{key}_swa_mean"] = mean_metrics[key]
    predictions["prediction_swa_mean"] = mean_predictions["prediction"].to_numpy()
    return {**metrics, "swag": {**facts, "bma": True, "reported": "bma"}}, predictions
