"""Each classification and regression metric against known values (generation and QA: their own tests)."""
import numpy as np
import pytest

from swa_study.metrics import CLASSIFICATION_METRICS, compute_task_metrics, predictions_from_logits
from swa_study.study.tasks import FAMILY_METRICS, builtin_task as get_task

METRIC = CLASSIFICATION_METRICS


def test_accuracy():
    assert METRIC["accuracy"]([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5


def test_f1_of_the_positive_class():
    # tp = 2, fp = 1, fn = 1 -> precision 2/3, recall 2/3, F1 2/3
    assert METRIC["f1"]([1, 1, 1, 0, 0], [1, 1, 0, 1, 0]) == pytest.approx(2 / 3)


def test_matthews_correlation():
    metric = METRIC["matthews_correlation"]
    assert metric([0, 1, 0, 1], [0, 1, 0, 1]) == pytest.approx(1.0)
    assert metric([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    # tp=1 tn=2 fp=1 fn=0: (1*2 - 1*0) / sqrt(2*1*3*2) = 2 / sqrt(12)
    value = metric([1, 1, 0, 0], [1, 0, 0, 0])
    assert value == pytest.approx(2 / np.sqrt(12))


def test_pearson_and_spearman():
    refs = [1.0, 2.0, 3.0, 4.0]
    preds = [1.0, 4.0, 9.0, 16.0]  # monotone, not linear
    assert METRIC["spearmanr"](preds, refs) == pytest.approx(1.0)
    # Pearson by hand: x = refs, y = preds
    x, y = np.array(refs), np.array(preds)
    expected = ((x - x.mean()) * (y - y.mean())).sum() / np.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
    pearson = METRIC["pearsonr"](preds, refs)
    assert pearson == pytest.approx(expected) and pearson < 1


def test_task_metrics_from_logits():
    stsb, sst2 = get_task("stsb"), get_task("sst2")
    logits = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 0.5]])
    assert list(predictions_from_logits(sst2, logits)) == [1, 0, 1]
    assert compute_task_metrics(sst2, predictions_from_logits(sst2, logits), np.array([1, 0, 0])) == {
        "accuracy": pytest.approx(2 / 3)
    }
    scores = compute_task_metrics(stsb, np.array([0.5, 1.5, 4.0]), np.array([1.0, 2.0, 5.0]))
    assert set(scores) == {"pearsonr", "spearmanr"} and scores["spearmanr"] == pytest.approx(1.0)


def test_every_classification_metric_a_task_may_declare_is_computed():
    assert set(CLASSIFICATION_METRICS) == set(FAMILY_METRICS["classification"])
