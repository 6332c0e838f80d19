"""Calibration (ECE, NLL, Brier, reliability bins) against hand values, and SWAG's Bayesian model averaging."""
import math
import types

import numpy as np
import pytest
import torch

from swa_study.calibration import bin_statistics, calibration_metrics, expected_calibration_error, reliability
from swa_study.evaluation import evaluate_splits
from swa_study.methods.swag import VARIANCE_FLOOR
from swa_study.study.tasks import builtin_task as get_task
from swa_study.swag_bma import bma_outputs, swag_evaluation


def two_class(confidence_for_0: list[float]) -> np.ndarray:
    p = np.asarray(confidence_for_0, dtype=float)
    return np.stack([p, 1 - p], axis=1)


def test_a_perfectly_calibrated_predictor_has_zero_ece():
    """10 examples at confidence 0.8 of which 8 are right, 5 at 0.6 of which 3 are right: accuracy = confidence."""
    probs = two_class([0.8] * 10 + [0.6] * 5)
    labels = np.array([0] * 8 + [1] * 2 + [0] * 3 + [1] * 2)
    assert expected_calibration_error(probs, labels, bins=15) == pytest.approx(0.0, abs=1e-12)


def test_a_miscalibrated_predictor_has_the_hand_computed_ece_nll_and_brier():
    """4 examples at confidence 0.9, 2 right (|0.5 - 0.9| = 0.4); 6 at confidence 0.7 (for class 1), all right
    (|1.0 - 0.7| = 0.3): ECE = 0.4 x 4/10 + 0.3 x 6/10 = 0.34."""
    probs = np.concatenate([two_class([0.9] * 4), two_class([0.3] * 6)])
    labels = np.array([0, 0, 1, 1] + [1] * 6)
    metrics = calibration_metrics(probs, labels, bins=10)
    assert metrics["ece"] == pytest.approx(0.34)
    nll = -(2 * math.log(0.9) + 2 * math.log(0.1) + 6 * math.log(0.7)) / 10
    assert metrics["nll"] == pytest.approx(nll)
    brier = (2 * (0.1 ** 2 * 2) + 2 * (0.9 ** 2 * 2) + 6 * (0.3 ** 2 * 2)) / 10  # sum over both classes
    assert metrics["brier"] == pytest.approx(brier)


def test_bins_are_equal_width_and_right_closed():
    probs = np.array([[0.55, 0.45], [0.6, 0.4], [0.61, 0.39], [1.0, 0.0]])
    count, confidence_sum, correct = bin_statistics(probs, np.array([0, 1, 0, 0]), bins=5)  # (0.4,0.6], (0.6,0.8], ..
    assert count.tolist() == [0, 0, 2, 1, 1]
    assert confidence_sum.tolist() == pytest.approx([0, 0, 1.15, 0.61, 1.0])
    assert correct.tolist() == [0, 0, 1, 1, 1]
    pooled = reliability(probs, np.array([0, 1, 0, 0]), bins=5)
    assert pooled["count"] == [0, 0, 2, 1, 1] and pooled["bins"] == 5


def test_classification_metrics_carry_calibration_and_regression_none(tiny_classifier):
    model, tokenizer, train = tiny_classifier
    splits = {"validation": train.add_column("idx", list(range(len(train))))}
    metrics, _ = evaluate_splits(model, tokenizer, get_task("sst2"), splits, calibration_bins=10)
    assert {"accuracy", "ece", "nll", "brier"} <= set(metrics["validation"])
    assert sum(metrics["reliability"]["validation"]["count"]) == len(train)
    assert 0 <= metrics["validation"]["ece"] <= 1 and metrics["validation"]["nll"] > 0

    class Scorer(torch.nn.Module):  # a regression head: one output, no class probabilities
        def forward(self, input_ids, **kwargs):
            return types.SimpleNamespace(logits=torch.full((len(input_ids), 1), 0.5))

    metrics, _ = evaluate_splits(Scorer(), tokenizer, get_task("stsb"), splits, calibration_bins=10)
    assert set(metrics) == {"validation"} and not {"ece", "nll", "brier"} & set(metrics["validation"])


def moments_of(model, variance: float, columns: int = 0):
    """A SWAG moments file's tensors for `model` as the mean: a given diagonal variance, `columns` deviations."""
    tensors = {}
    for name, p in model.named_parameters():
        tensors[f"sq_mean.{name}"] = p.detach() ** 2 + variance
        if columns:
            tensors[f"deviations.{name}"] = torch.randn((columns, *p.shape), generator=torch.Generator().manual_seed(1))
    return tensors


def test_bma_of_a_zero_variance_swag_is_the_mean_model_and_the_model_is_restored(tiny_classifier):
    model, tokenizer, train = tiny_classifier
    task, splits = get_task("sst2"), {"validation": train.add_column("idx", list(range(len(train))))}
    mean_metrics, mean_predictions = evaluate_splits(model, tokenizer, task, splits, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    outputs = bma_outputs(model, tokenizer, task, splits, moments_of(model, VARIANCE_FLOOR), 3, 0.5, seed=0)
    from swa_study.evaluation import split_logits
    from swa_study.calibration import probabilities
    expected = probabilities(split_logits(model, tokenizer, splits)["validation"])
    np.testing.assert_allclose(np.exp(outputs["validation"]), expected, rtol=1e-5)
    noisy = bma_outputs(model, tokenizer, task, splits, moments_of(model, 0.05, columns=3), 3, 0.5, seed=0)
    assert not np.allclose(noisy["validation"], outputs["validation"], atol=1e-4)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name])


def test_swag_evaluation_reports_bma_and_the_swa_mean_beside_it(tiny_classifier, tmp_path):
    from safetensors.torch import save_file

    model, tokenizer, train = tiny_classifier
    task, splits = get_task("sst2"), {"validation": train.add_column("idx", list(range(len(train))))}
    save_file(moments_of(model, 0.05, columns=3), str(tmp_path / "swag_moments.safetensors"))
    mean_metrics, mean_predictions = evaluate_splits(model, tokenizer, task, splits, 10)
    hp = {"swag_samples": 4, "swag_scale": 0.5}
    metrics, predictions = swag_evaluation(model, tokenizer, task, splits, tmp_path, hp, 1, 10, mean_metrics,
                                           mean_predictions)
    assert metrics["validation_swa_mean"] == mean_metrics["validation"]
    assert metrics["validation"] != mean_metrics["validation"] and "ece" in metrics["validation"]
    assert metrics["swag"] == {"samples": 4, "scale": 0.5, "seed": 1, "deviation_columns": 3, "bma": True,
                               "reported": "bma"}
    assert (predictions["prediction_swa_mean"] == mean_predictions["prediction"]).all()
    again, _ = swag_evaluation(model, tokenizer, task, splits, tmp_path, hp, 1, 10, mean_metrics, mean_predictions)
    assert again["validation"] == metrics["validation"]  # seeded samples: a rerun repeats them


def test_the_calibration_table_pools_seeds_and_shows_swags_mean_model(tmp_path):
    from swa_study.calibration_report import calibration_markdown, calibration_runs, calibration_table
    from swa_study.calibration_report import plot_reliability
    from swa_study.io import write_json

    def record(method, seed, accuracy, ece, extra=None):
        bins = {"bins": 2, "count": [1, 3], "confidence_sum": [0.4, 2.4], "correct": [0, 3]}
        return {"task": "sst2", "method": method, "seed": seed, "main_metric": "accuracy",
                "validation": {"accuracy": accuracy, "ece": ece, "nll": 0.5, "brier": 0.3},
                "reliability": {"validation": bins}, **(extra or {})}

    files = []
    for i, rec in enumerate([record("swa", 1, 0.8, 0.10), record("swa", 2, 0.9, 0.20),
                             record("swag", 1, 0.7, 0.05, {"validation_swa_mean": {"accuracy": 0.6, "ece": 0.3,
                                                                                   "nll": 0.9, "brier": 0.4}}),
                             {"task": "stsb", "method": "swa", "seed": 1, "main_metric": "pearsonr",
                              "validation": {"pearsonr": 0.5}}]):
        run = tmp_path / str(i)  # a run's folder: scores in metrics.json, what it cost in train_info.json
        write_json(run / "metrics.json", rec)
        write_json(run / "train_info.json", {"compute": {"train_seconds": 10.0 * rec["seed"]}})
        files.append(run / "metrics.json")
    runs, pooled = calibration_runs(files)
    assert list(runs.method) == ["swa", "swa", "swag", "swag/swa_mean"]  # stsb (regression) has no row
    assert pooled[("sst2", "swa")]["count"].tolist() == [2, 6] and ("sst2", "swag/swa_mean") not in pooled
    table = calibration_table(runs, ["swag", "swa"])
    assert list(table.method) == ["swag", "swag/swa_mean", "swa"]
    swa = table.set_index("method").loc["swa"]
    assert swa["score_mean"] == pytest.approx(0.85) and swa["ece_std"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    assert swa["train_seconds"] == pytest.approx(15.0) and swa["n"] == 2
    markdown = calibration_markdown(table, {"sst2": "accuracy"}, "t")
    assert "| swa | 85.0 ± 7.1 | 15.0 ± 7.1 | 0.500 ± 0.000 | 0.300 ± 0.000 | 15 | 2 |" in markdown
    plot_reliability(pooled, "sst2", ["swag", "swa"], tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 5000
