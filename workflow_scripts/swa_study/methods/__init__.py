"""The registry of training methods: adding one is a new module here plus its name in this dict and the schema."""
from __future__ import annotations

from typing import Any

from ..tasks import TaskSpec
from .annealing_kd import AnnealingKD
from .base import TrainingMethod
from .finetune import FineTune
from .kd import KnowledgeDistillation
from .mate_kd import MateKD
from .rail_kd import RailKD
from .swa import StochasticWeightAveraging
from .swa_kd import SWAKnowledgeDistillation

METHODS: dict[str, type[TrainingMethod]] = {
    cls.name: cls
    for cls in (FineTune, StochasticWeightAveraging, KnowledgeDistillation, AnnealingKD, RailKD, MateKD,
                SWAKnowledgeDistillation)
}


def build_method(name: str, task: TaskSpec, params: dict[str, Any]) -> TrainingMethod:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}")
    return METHODS[name](task, params)
