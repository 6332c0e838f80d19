"""The compute side of the method registry: each name of config/methods.yaml maps to the class that trains it.

Adding a method is a new module here, its class in this list, and its entry (families, teacher needs, keys and
defaults) in config/methods.yaml; tests check that the two registries name the same methods.
"""
from __future__ import annotations

from typing import Any

from ..study.methods import method_defaults
from ..study.tasks import TaskSpec
from .annealing_kd import AnnealingKD
from .base import TrainingMethod
from .finetune import FineTune
from .kd import KnowledgeDistillation
from .mate_kd import MateKD
from .rail_kd import RailKD
from .swa import StochasticWeightAveraging
from .swa_kd import SWAKnowledgeDistillation

IMPLEMENTATIONS: dict[str, type[TrainingMethod]] = {
    cls.name: cls
    for cls in (FineTune, StochasticWeightAveraging, KnowledgeDistillation, AnnealingKD, RailKD, MateKD,
                SWAKnowledgeDistillation)
}


def build_method(name: str, task: TaskSpec, params: dict[str, Any]) -> TrainingMethod:
    """The method `name` (a built-in; a variant's jobs pass its base) with `params` over its registered defaults."""
    if name not in IMPLEMENTATIONS:
        raise KeyError(f"unknown method {name!r}; known methods: {', '.join(sorted(IMPLEMENTATIONS))}")
    return IMPLEMENTATIONS[name](task, {**method_defaults(name), **params})
