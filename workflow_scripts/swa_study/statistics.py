"""Paired comparisons of methods over seeds: the mean difference, its Student-t interval, the paired t-test with
Holm's correction (which decides the † mark), and two extra tests where the number of seeds allows them.

Runs of one seed share the head initialisation and the data order across methods (and SWA equals fine-tuning
until `swa_start`), so a method is compared with a reference *seed by seed*: the differences d_s = score(method,
s) - score(reference, s) over the seeds both have. Reported per comparison:
  - the mean paired difference and its paired Student-t interval, mean ± t_{1-alpha/2, n-1} sd / sqrt(n);
  - the paired t-test on the same t, its p-value Holm-corrected over the comparisons of one family (the caller
    says what a family is: `significance_table` uses one task and one reference); `mark` = adjusted p < alpha;
  - Wilcoxon's signed-rank test (scipy.stats.wilcoxon), only from `wilcoxon_min_pairs(alpha)` pairs (6 at 0.05):
    with n pairs its smallest two-sided p is 2 / 2^n (0.25 at 3, 0.0625 at 5), so below that it cannot say yes;
  - the percentile-bootstrap interval of the mean (scipy.stats.bootstrap, seeded), only from BOOTSTRAP_MIN_PAIRS.

Why the t interval and not the percentile bootstrap: with 3-5 seeds the percentile interval is too narrow (with 3
it is exactly [min d_s, max d_s]), so under a true null it excludes zero on about 25 % of comparisons at 3 seeds
and 18 % at 5, where a 95 % interval should on 5 %. The t procedure holds its level at every n >= 2 for roughly
normal differences, which the seed noise of one pipeline is; tests/test_marks.py measures the mark's
false-positive rate by simulation at 3, 5 and 10 seeds through `paired_t` and `holm_marks`, the two functions
`significance_table` decides with. The interval is per comparison (it excludes zero exactly when the unadjusted
p < alpha), the mark is Holm-adjusted: an interval can exclude zero on a cell without a mark.

Edge cases are answers, not crashes: with fewer than 2 common seeds there is no test (`testable` False, NaN
interval and p-values); when every difference is the same value the interval is that point and p is 0 (a
non-zero shift on every seed) or 1 (every difference zero: no evidence of a difference).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05  # config statistics.alpha: the level of the mark; the interval's confidence is 1 - alpha
MIN_PAIRS = 2  # the t-test needs a spread: below 2 pairs no test can say anything
BOOTSTRAP_MIN_PAIRS = 10  # below it the percentile bootstrap of a mean is anticonservative (see the docstring)
RESAMPLES = 9999
DECIMALS = 12  # scores are fractions: round differences so that "constant" and "zero" are exact, not 1e-17 noise


def wilcoxon_min_pairs(alpha: float = ALPHA) -> int:
    """The fewest pairs at which Wilcoxon's exact two-sided test can reach p < alpha (its floor is 2 / 2^n)."""
    n = 1
    while 2.0 / 2 ** n >= alpha:
        n += 1
    return n


@dataclass(frozen=True)
class TInterval:
    """The paired t procedure over the last axis of an array of differences (floats for one comparison)."""
    mean: np.ndarray | float
    low: np.ndarray | float
    high: np.ndarray | float
    t: np.ndarray | float
    p: np.ndarray | float


def paired_t(differences: np.ndarray, alpha: float = ALPHA) -> TInterval:
    """Mean, the (1 - alpha) Student-t interval and the two-sided t-test of the differences along the last axis.

    Vectorised, so the null simulation (tests/test_marks.py) runs thousands of studies through this same code.
    A constant difference has zero spread: the interval is that point and p is 0, or 1 when it is zero.
    """
    d = np.asarray(differences, dtype=float)
    n = d.shape[-1]
    if n < MIN_PAIRS:
        nan = np.full(d.shape[:-1], math.nan)
        mean = d.mean(axis=-1) if n else nan
        return _scalars(TInterval(mean, nan, nan, nan, nan))
    constant = np.all(d == d[..., :1], axis=-1)
    mean = np.where(constant, d[..., 0], d.mean(axis=-1))
    se = np.where(constant, 0.0, d.std(axis=-1, ddof=1)) / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, np.where(mean == 0, 0.0, np.copysign(np.inf, mean)))
    p = 2 * stats.t.sf(np.abs(t), n - 1)
    half = stats.t.ppf(1 - alpha / 2, n - 1) * se
    return _scalars(TInterval(mean, mean - half, mean + half, t, p))


def _scalars(result: TInterval) -> TInterval:
    """Plain floats for a single comparison (a 0-d array prints and compares badly)."""
    if np.ndim(result.mean) == 0:
        return TInterval(*(float(v) for v in asdict(result).values()))
    return result


def holm(p_values: Iterable[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis (NaNs stay NaN and do not count as comparisons).

    Sorted ascending p_(1) <= ... <= p_(m): adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values if isinstance(p_values, np.ndarray) else list(p_values), dtype=float)
    order = np.argsort(p, axis=-1, kind="stable")  # NaN sorts last
    ranked = np.take_along_axis(p, order, axis=-1)
    m = np.sum(~np.isnan(p), axis=-1, keepdims=True)
    scaled = np.minimum(1.0, (m - np.arange(p.shape[-1])) * ranked)
    running = np.fmax.accumulate(scaled, axis=-1) if p.shape[-1] else scaled
    running[np.isnan(ranked)] = math.nan
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, running, axis=-1)
    return adjusted


def holm_marks(p_values: Iterable[float] | np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """(Holm-adjusted p-values, marks): a comparison is marked when its adjusted p < alpha (NaN: never)."""
    adjusted = holm(p_values)
    return adjusted, np.nan_to_num(adjusted, nan=1.0) < alpha


def bootstrap_interval(differences: np.ndarray, seed: int, confidence: float = 1 - ALPHA,
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


@dataclass(frozen=True)
class PairedResult:
    n: int
    mean_difference: float
    ci_low: float  # the Student-t interval
    ci_high: float
    t: float
    p_ttest: float
    wilcoxon_w: float  # NaN below wilcoxon_min_pairs
    p_wilcoxon: float
    bootstrap_low: float  # NaN below BOOTSTRAP_MIN_PAIRS
    bootstrap_high: float

    @property
    def testable(self) -> bool:
        return self.n >= MIN_PAIRS

    @property
    def ci_excludes_zero(self) -> bool:
        return bool(self.ci_low > 0 or self.ci_high < 0)  # NaN bounds compare False


def paired_comparison(method: Iterable[float], reference: Iterable[float], seed: int = 0, alpha: float = ALPHA,
                      bootstrap: bool = True) -> PairedResult:
    """method - reference, paired by position (the caller aligns the seeds). `bootstrap` False skips the
    bootstrap columns (NaN), which cost 9,999 resamples each, where a caller has no use for them."""
    a, b = np.asarray(list(method), dtype=float), np.asarray(list(reference), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    d = np.round(a - b, DECIMALS)
    n = len(d)
    result = paired_t(d, alpha)
    w = p_w = boot_low = boot_high = math.nan
    if n >= wilcoxon_min_pairs(alpha):
        if np.all(d == 0):
            w, p_w = 0.0, 1.0
        else:
            with warnings.catch_warnings():  # ties and zeros: scipy warns that it approximates; the answer stands
                warnings.simplefilter("ignore", RuntimeWarning)
                test = stats.wilcoxon(d)
            w, p_w = float(test.statistic), float(test.pvalue)
    if bootstrap and n >= BOOTSTRAP_MIN_PAIRS:
        boot_low, boot_high = bootstrap_interval(d, seed, 1 - alpha)
    return PairedResult(n, result.mean, result.low, result.high, result.t, result.p, w, p_w, boot_low, boot_high)


COLUMNS = ["task", "metric", "reference", "method", "n", "seeds", "reference_mean", "method_mean", "difference",
           "ci_low", "ci_high", "ci_excludes_zero", "t", "p_ttest", "p_ttest_holm", "mark", "testable",
           "wilcoxon_w", "p_wilcoxon", "p_wilcoxon_holm", "bootstrap_low", "bootstrap_high", "holm_family"]


def significance_table(runs: pd.DataFrame, methods: list[str], references: Iterable[str] = ("finetune", "swa"),
                       value: str = "score", seed: int = 0, scale: float = 100.0, alpha: float = ALPHA,
                       bootstrap: bool = True, matched: dict[str, str] | None = None) -> pd.DataFrame:
    """Every method against each reference that the study has, per task, paired by seed (COLUMNS).

    `runs` has columns task, method, seed and `value`; differences are method - reference, x `scale`. A method
    lacking some seeds is compared on the seeds both have (`n`, `seeds`). Holm's correction runs over the
    comparisons of one task and one reference (`holm_family`), separately for each test; `mark` is the
    Holm-adjusted t-test's p < alpha, `testable` whether the comparison has the pairs for a test at all.
    `matched` adds {method: its own reference} pairs (the ablation's swa_lr2x against finetune_lr2x), one more
    Holm family per task ("<task> matched").
    """
    rows = []
    for task in dict.fromkeys(runs["task"]):
        task_runs = runs[runs.task == task]
        by_method = {m: g.set_index("seed")[value] for m, g in task_runs.groupby("method")}
        metric = task_runs["main_metric"].iloc[0] if "main_metric" in task_runs else value
        families = [(f"{task} vs {reference}", [(m, reference) for m in methods if m in by_method and m != reference])
                    for reference in references if reference in by_method]
        families.append((f"{task} matched", [(m, r) for m, r in (matched or {}).items()
                                             if m in by_method and r in by_method]))
        for family, pairs in families:
            block = [_comparison(task, metric, method, reference, by_method, scale, seed, alpha, bootstrap, family)
                     for method, reference in pairs]
            adjusted, marks = holm_marks([row["p_ttest"] for row in block], alpha)
            for row, p, mark, p_w in zip(block, adjusted, marks, holm([row["p_wilcoxon"] for row in block])):
                row.update(p_ttest_holm=p, mark=bool(mark), p_wilcoxon_holm=p_w)
            rows += block
    return pd.DataFrame(rows, columns=COLUMNS)


def _comparison(task: str, metric: str, method: str, reference: str, by_method: dict[str, pd.Series], scale: float,
                seed: int, alpha: float, bootstrap: bool, family: str) -> dict:
    """One row of the table: `method` - `reference` on the seeds both have."""
    seeds = sorted(set(by_method[method].index) & set(by_method[reference].index))
    a, b = by_method[method].loc[seeds].to_numpy(float), by_method[reference].loc[seeds].to_numpy(float)
    result = paired_comparison(a * scale, b * scale, seed, alpha, bootstrap)
    return {
        "task": task, "metric": metric, "reference": reference, "method": method,
        "seeds": " ".join(map(str, seeds)), "reference_mean": b.mean() * scale if seeds else math.nan,
        "method_mean": a.mean() * scale if seeds else math.nan,
        **{k: v for k, v in asdict(result).items() if k != "mean_difference"},
        "difference": result.mean_difference, "ci_excludes_zero": result.ci_excludes_zero,
        "testable": result.testable, "holm_family": family,
    }
