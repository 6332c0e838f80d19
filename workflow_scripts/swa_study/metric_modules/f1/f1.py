"""Binary F1 of the positive class (label 1), computed by scikit-learn, as an `evaluate` module that loads from this folder without the Hub.

Load with `evaluate.load("<this folder>")`. The Hub's own module cannot be fetched offline; this one gives the
same key and the same value.
"""
import datasets
import evaluate
from sklearn.metrics import f1_score


class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Binary F1 of the positive class (label 1)",
            citation="",
            inputs_description="predictions and references: one int64 per example",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        return {"f1": float(f1_score(references, predictions, pos_label=1, average="binary"))}
