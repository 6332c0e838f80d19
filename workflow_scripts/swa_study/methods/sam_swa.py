"""SAM + SWA: SAM's two-pass steps while the iterates are averaged exactly as in SWA.

Nothing is new here: Python's method resolution combines the two parents. `training_step` (two passes per
micro-batch) comes from sam.SharpnessAwareMinimization; `start`, `lr_factor`, `callbacks` (the SWACollector) come
from swa.StochasticWeightAveraging; SAM's `finish` calls SWA's (which loads the average) and adds its pass count.
So "sam_swa vs sam vs swa" isolates the combination, and a fix to either parent applies here too.
"""
from __future__ import annotations

from .sam import SharpnessAwareMinimization
from .swa import StochasticWeightAveraging


class SAMStochasticWeightAveraging(SharpnessAwareMinimization, StochasticWeightAveraging):
    name = "sam_swa"  # its keys are sam's and swa's (config/methods.yaml: inherits)
