"""Accuracy: the fraction of exact matches, computed by scikit-learn, as an `evaluate` module that loads from this folder without the Hub.

Load with `evaluate.load("<this folder>")`. The Hub's own module cannot be fetched offline; this one gives the
same key and the same value.
"""
import datasets
import evaluate
from sklearn.metrics import accuracy_score


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Accuracy: the fraction of exact matches",
            citation="",
            inputs_description="predictions and references: one int64 per example",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        return {"accuracy": float(accuracy_score(references, predictions))}
