"""The compute side of the method registry: each name of config/methods.yaml maps to the class that trains it.

Adding a method is a new module here, its class in this list, and its entry (families, teacher needs, keys and
defaults) in config/methods.yaml; tests check that the two registries name the same training methods. Soups
(config/methods.yaml `kind: soup`) are not trained: swa_study/soups.py mixes finished runs.
"""
from __future__ import annotations

from typing import Any

from ..study.methods import method_defaults
from ..study.tasks import TaskSpec
from .annealing_kd import AnnealingKD
from .base import TrainingMethod
from .ema import ExponentialMovingAverage
from .finetune import FineTune
from .kd import KnowledgeDistillation
from .lawa import LatestWeightAveraging
from .mate_kd import MateKD
from .rail_kd import RailKD
from .sam import SharpnessAwareMinimization
from .sam_swa import SAMStochasticWeightAveraging
from .swa import StochasticWeightAveraging
from .swa_kd import SWAKnowledgeDistillation
from .swag import SWAGaussian

IMPLEMENTATIONS: dict[str, type[TrainingMethod]] = {
    cls.name: cls
    for cls in (FineTune, StochasticWeightAveraging, KnowledgeDistillation, AnnealingKD, RailKD, MateKD,
                SWAKnowledgeDistillation, ExponentialMovingAverage, LatestWeightAveraging, SWAGaussian,
                SharpnessAwareMinimization, SAMStochasticWeightAveraging)
}


def build_method(name: str, task: TaskSpec, params: dict[str, Any]) -> TrainingMethod:
    """The method `name` (a built-in; a variant's jobs pass its base) with `params` over its registered defaults."""
    if name not in IMPLEMENTATIONS:
        raise KeyError(f"unknown method {name!r}; known methods: {', '.join(sorted(IMPLEMENTATIONS))}")
    return IMPLEMENTATIONS[name](task, {**method_defaults(name), **params})
