"""Paired comparisons of methods over seeds: the mean difference, its bootstrap interval, two paired tests, Holm.

Runs of one seed share the head initialisation and the data order across methods (and SWA equals fine-tuning
until `swa_start`), so a method is compared with a reference *seed by seed*: the differences d_s = score(method,
s) - score(reference, s) over the seeds both have. Reported per comparison:
  - the mean paired difference and its 95 % percentile-bootstrap interval (scipy.stats.bootstrap, seeded);
  - the paired t-test (scipy.stats.ttest_rel) and Wilcoxon's signed-rank test (scipy.stats.wilcoxon);
  - both p-values Holm-corrected over the comparisons of one family (the caller says what a family is:
    `significance_table` uses one task and one reference).
Edge cases are answers, not crashes: with fewer than 2 common seeds the interval and the tests are NaN; when every
difference is the same value the interval is that point; when every difference is zero both tests give p = 1
(no evidence of a difference; scipy's t statistic is 0/0 there).

Why the percentile bootstrap and not BCa: BCa is undefined for a constant difference and unstable for 3-5 values.
With n seeds the percentile interval approaches [min d_s, max d_s] as n shrinks (n = 3: it is exactly that), so a
mark "interval excludes zero" with 3 seeds means "every seed moved the same way", which is how to read it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 9999
DECIMALS = 12  # scores are fractions: round differences so that "constant" and "zero" are exact, not 1e-17 noise


@dataclass(frozen=True)
class PairedResult:
    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    t: float
    p_ttest: float
    wilcoxon_w: float
    p_wilcoxon: float

    @property
    def ci_excludes_zero(self) -> bool:
        return bool(self.ci_low > 0 or self.ci_high < 0)  # NaN bounds compare False: no mark


def bootstrap_interval(differences: np.ndarray, seed: int, confidence: float = CONFIDENCE,
                       resamples: int = RESAMPLES) -> tuple[float, float]:
    """The percentile-bootstrap interval of the mean of `differences` (NaN for fewer than 2 values)."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return math.nan, math.nan
    if np.all(d == d[0]):  # every resample has the same mean: the interval is that point
        return float(d[0]), float(d[0])
    result = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples,
                             method="percentile", rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_comparison(method: Iterable[float], reference: Iterable[float], seed: int = 0) -> PairedResult:
    """method - reference, paired by position (the caller aligns the seeds)."""
    a, b = np.asarray(list(method), dtype=float), np.asarray(list(reference), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    d = np.round(a - b, DECIMALS)
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    low, high = bootstrap_interval(d, seed)
    if n < 2:
        return PairedResult(n, mean, low, high, math.nan, math.nan, math.nan, math.nan)
    if np.all(d == 0):
        return PairedResult(n, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0)
    with warnings.catch_warnings():  # near-constant differences: scipy warns about precision, the answer stands
        warnings.simplefilter("ignore", RuntimeWarning)
        t = stats.ttest_1samp(d, 0.0)  # = ttest_rel(a, b), on the rounded differences
        w = stats.wilcoxon(d)
    return PairedResult(n, mean, low, high, float(t.statistic), float(t.pvalue), float(w.statistic), float(w.pvalue))


def holm(p_values: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaNs stay NaN and do not count as comparisons).

    Sorted ascending p_(1) <= ... <= p_(m): adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(list(p_values), dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    running = 0.0
    for rank, index in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


COLUMNS = ["task", "metric", "reference", "method", "n", "seeds", "reference_mean", "method_mean", "difference",
           "ci_low", "ci_high", "ci_excludes_zero", "t", "p_ttest", "p_ttest_holm", "wilcoxon_w", "p_wilcoxon",
           "p_wilcoxon_holm", "holm_family"]


def significance_table(runs: pd.DataFrame, methods: list[str], references: Iterable[str] = ("finetune", "swa"),
                       value: str = "score", seed: int = 0, scale: float = 100.0) -> pd.DataFrame:
    """Every method against each reference that the study has, per task, paired by seed (COLUMNS).

    `runs` has columns task, method, seed and `value`; differences are method - reference, x `scale`. A method
    lacking some seeds is compared on the seeds both have (`n`, `seeds`). Holm's correction runs over the
    comparisons of one task and one reference (`holm_family`), separately for each test.
    """
    rows = []
    for task in dict.fromkeys(runs["task"]):
        task_runs = runs[runs.task == task]
        by_method = {m: g.set_index("seed")[value] for m, g in task_runs.groupby("method")}
        metric = task_runs["main_metric"].iloc[0] if "main_metric" in task_runs else value
        for reference in references:
            if reference not in by_method:
                continue
            block = []
            for method in [m for m in methods if m in by_method and m != reference]:
                seeds = sorted(set(by_method[method].index) & set(by_method[reference].index))
                a, b = by_method[method].loc[seeds].to_numpy(float), by_method[reference].loc[seeds].to_numpy(float)
                result = paired_comparison(a * scale, b * scale, seed)
                block.append({
                    "task": task, "metric": metric, "reference": reference, "method": method,
                    "seeds": " ".join(map(str, seeds)), "reference_mean": b.mean() * scale if seeds else math.nan,
                    "method_mean": a.mean() * scale if seeds else math.nan,
                    **{k: v for k, v in asdict(result).items() if k != "mean_difference"},
                    "difference": result.mean_difference, "ci_excludes_zero": result.ci_excludes_zero,
                    "holm_family": f"{task} vs {reference}",
                })
            for test in ("p_ttest", "p_wilcoxon"):
                for row, adjusted in zip(block, holm([row[test] for row in block])):
                    row[f"{test}_holm"] = adjusted
            rows += block
    return pd.DataFrame(rows, columns=COLUMNS)
