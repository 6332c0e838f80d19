"""Calibration of a classifier's predicted probabilities: expected calibration error, NLL, Brier score, and the
per-bin numbers of a reliability diagram.

ECE (Guo et al. 2017): the top-label confidences are put in `bins` equal-width bins ((m-1)/M, m/M]; ECE is the
sum over bins of |accuracy - mean confidence| weighted by the bin's share of the examples. NLL is the mean
-log p(gold) (scikit-learn's log_loss) and Brier the mean over examples of sum over classes (p_c - 1[c = gold])^2
(scikit-learn's multi-class form: twice the one-probability form for two classes). Only classification has
probabilities: regression and the span and text families get none of these.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import softmax
from sklearn.metrics import brier_score_loss, log_loss


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 (NLL of confident predictions needs the precision)."""
    return softmax(np.asarray(logits, dtype=np.float64), axis=-1)


def bin_statistics(probs: np.ndarray, labels: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(examples, summed top-label confidence, correct top-label predictions) per equal-width confidence bin."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    confidence, predicted = probs.max(axis=-1), probs.argmax(axis=-1)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    confidence_sum = np.bincount(index, weights=confidence, minlength=bins)
    correct = np.bincount(index, weights=(predicted == labels).astype(float), minlength=bins)
    return count, confidence_sum, correct


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int) -> float:
    count, confidence_sum, correct = bin_statistics(probs, labels, bins)
    return float(np.abs(correct - confidence_sum).sum() / max(1, count.sum()))  # sum_b n_b/N |acc_b - conf_b|


def calibration_metrics(probs: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, float]:
    """{"ece", "nll", "brier"} of class probabilities (rows summing to 1) against integer labels."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    classes = list(range(probs.shape[-1]))
    return {
        "ece": expected_calibration_error(probs, labels, bins),
        "nll": float(log_loss(labels, probs, labels=classes)),
        "brier": float(brier_score_loss(labels, probs, labels=classes, scale_by_half=False)),
    }


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, Any]:
    """What a reliability diagram needs, per bin: examples, summed confidence, correct predictions (sums, so runs
    of several seeds pool by adding them)."""
    count, confidence_sum, correct = bin_statistics(probs, labels, bins)
    return {"bins": bins, "count": count.astype(int).tolist(), "confidence_sum": confidence_sum.tolist(),
            "correct": correct.tolist()}
