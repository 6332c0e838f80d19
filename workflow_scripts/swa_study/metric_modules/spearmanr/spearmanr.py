"""Spearman rank correlation (STS-B), computed by scipy, as an `evaluate` module that loads from this folder without the Hub.

Load with `evaluate.load("<this folder>")`. The Hub's own module cannot be fetched offline; this one gives the
same key and the same value.
"""
import datasets
import evaluate
from scipy.stats import spearmanr


class Spearmanr(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Spearman rank correlation (STS-B)",
            citation="",
            inputs_description="predictions and references: one float64 per example",
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions, references):
        return {"spearmanr": float(spearmanr(references, predictions)[0])}
