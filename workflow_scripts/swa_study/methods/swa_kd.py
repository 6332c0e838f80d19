"""SWA + KD: the student distils from the cached teacher logits (vanilla KD) while its iterates are averaged as in SWA.

Nothing is new here, which is the point of the row: the loss is exactly `kd.KnowledgeDistillation.compute_loss`
(`kd_loss`), and the LR schedule, the collection every K steps and the final swap to the average are exactly
`swa.StochasticWeightAveraging` (its `SWACollector`). Python's method resolution does the combining: SWA's `start`,
`lr_factor`, `callbacks` and `finish` come first, and `compute_loss`, which SWA does not define, comes from KD.
So a fix to either parent applies here too, and the comparison "swa_kd vs swa vs kd" isolates the combination.
"""
from __future__ import annotations

from .kd import KnowledgeDistillation
from .swa import StochasticWeightAveraging


class SWAKnowledgeDistillation(StochasticWeightAveraging, KnowledgeDistillation):
    name = "swa_kd"  # its keys are swa's and kd's (config/methods.yaml: inherits)
