"""Paired statistics over seeds: bootstrap interval, paired t-test, Wilcoxon, Holm; checked against closed forms."""
import math

import numpy as np
import pandas as pd
import pytest

from swa_study.statistics import bootstrap_interval, holm, paired_comparison, significance_table


def test_bootstrap_interval_of_a_constant_difference_is_that_point():
    assert bootstrap_interval(np.array([0.7, 0.7, 0.7, 0.7]), seed=0) == (0.7, 0.7)
    result = paired_comparison([0.81, 0.75, 0.92], [0.80, 0.74, 0.91])  # a shift of 0.01 on every seed
    assert result.ci_low == result.ci_high == pytest.approx(0.01)


def test_bootstrap_interval_of_three_values_spans_their_range():
    """With 3 values, each extreme resample (all three draws the same value) has probability 1/27 > 2.5 %, so the
    percentile interval is [min, max] exactly: how to read a mark with 3 seeds."""
    assert bootstrap_interval(np.array([1.0, 2.0, 6.0]), seed=0) == (1.0, 6.0)


def test_bootstrap_interval_is_seeded_and_narrows_with_more_values():
    rng = np.random.default_rng(1)
    small, large = rng.normal(1.0, 1.0, 6), rng.normal(1.0, 1.0, 60)
    assert bootstrap_interval(small, seed=3) == bootstrap_interval(small, seed=3)
    low_s, high_s = bootstrap_interval(small, seed=3)
    low_l, high_l = bootstrap_interval(large, seed=3)
    assert high_l - low_l < high_s - low_s
    assert low_l < large.mean() < high_l


def test_identical_runs_show_no_difference():
    scores = [0.71, 0.78, 0.74, 0.80]
    result = paired_comparison(scores, list(scores))
    assert (result.mean_difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.p_ttest == 1.0 and result.p_wilcoxon == 1.0 and not result.ci_excludes_zero


def test_a_constant_shift_is_found_by_both_tests():
    reference = np.array([0.70, 0.78, 0.74, 0.81, 0.69, 0.77, 0.73, 0.75])
    result = paired_comparison(reference + 0.02, reference)
    assert result.mean_difference == pytest.approx(0.02) and result.ci_excludes_zero
    assert result.p_ttest == 0.0  # zero spread: t is infinite
    assert result.p_wilcoxon == pytest.approx(2 / 2 ** 8)  # exact: all 8 signs positive, two-sided


def test_paired_t_test_matches_the_closed_form():
    """d = (1, 2, 3): t = mean / (sd / sqrt 3) = 2 sqrt 3; with 2 degrees of freedom the t CDF is
    1/2 + t / (2 sqrt(t^2 + 2)), so p = 1 - t / sqrt(t^2 + 2)."""
    result = paired_comparison([11.0, 22.0, 33.0], [10.0, 20.0, 30.0])
    t = 2 * math.sqrt(3)
    assert result.t == pytest.approx(t) and result.p_ttest == pytest.approx(1 - t / math.sqrt(t * t + 2))
    assert result.p_wilcoxon == pytest.approx(0.25)  # exact: 3 positive signs, 2 / 2^3


def test_a_noisy_shift_is_significant_and_noise_alone_is_not():
    rng = np.random.default_rng(0)
    reference = rng.normal(0.75, 0.03, 10)
    shifted = paired_comparison(reference + 0.02 + rng.normal(0, 0.002, 10), reference)
    assert shifted.p_ttest < 1e-6 and shifted.p_wilcoxon < 0.01 and shifted.ci_low > 0.015
    noise = paired_comparison(reference + rng.normal(0, 0.002, 10), reference)
    assert noise.p_ttest > 0.05 and noise.ci_low < 0 < noise.ci_high


def test_fewer_than_two_pairs_give_nan_not_an_error():
    result = paired_comparison([0.8], [0.7])
    assert result.n == 1 and result.mean_difference == pytest.approx(0.1)
    assert all(math.isnan(v) for v in (result.ci_low, result.ci_high, result.p_ttest, result.p_wilcoxon))
    assert not result.ci_excludes_zero


def test_holm_adjusts_by_rank_and_keeps_the_order_monotone():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0


def runs_frame(scores: dict[str, dict[int, float]], task="sst2") -> pd.DataFrame:
    return pd.DataFrame([{"task": task, "method": m, "seed": s, "score": v, "main_metric": "accuracy"}
                         for m, by_seed in scores.items() for s, v in by_seed.items()])


def test_significance_table_pairs_common_seeds_and_corrects_per_task_and_reference():
    runs = runs_frame({
        "finetune": {1: 0.70, 2: 0.72, 3: 0.74, 4: 0.71},
        "swa": {1: 0.73, 2: 0.75, 3: 0.77, 4: 0.74},  # +3 points on every seed
        "kd": {1: 0.71, 2: 0.72, 3: 0.73},  # lacks seed 4
        "lonely": {4: 0.9},  # a single common seed
    })
    table = significance_table(runs, ["finetune", "swa", "kd", "lonely"], references=("finetune", "swa"))
    vs_ft = table[table.reference == "finetune"].set_index("method")
    assert list(vs_ft.index) == ["swa", "kd", "lonely"]
    assert vs_ft.loc["swa", "difference"] == pytest.approx(3.0) and vs_ft.loc["swa", "ci_low"] == pytest.approx(3.0)
    assert vs_ft.loc["swa", "ci_excludes_zero"] and vs_ft.loc["swa", "n"] == 4
    assert vs_ft.loc["kd", "n"] == 3 and vs_ft.loc["kd", "seeds"] == "1 2 3"
    assert vs_ft.loc["kd", "difference"] == pytest.approx(0.0) and not vs_ft.loc["kd", "ci_excludes_zero"]
    assert vs_ft.loc["lonely", "n"] == 1 and math.isnan(vs_ft.loc["lonely", "p_ttest_holm"])
    # Holm over the two valid p-values of this family: swa p = 0, kd p = 1 (differences 1, 0, -1)
    assert vs_ft.loc["kd", "p_ttest_holm"] == pytest.approx(1.0)
    assert set(table.holm_family) == {"sst2 vs finetune", "sst2 vs swa"}
    vs_swa = table[table.reference == "swa"].set_index("method")
    assert vs_swa.loc["finetune", "difference"] == pytest.approx(-3.0)


def test_holm_family_size_changes_the_adjustment():
    rng = np.random.default_rng(4)
    base = rng.normal(0.7, 0.02, 5)
    scores = {"finetune": dict(enumerate(base))}
    scores["a"] = dict(enumerate(base + rng.normal(0.01, 0.01, 5)))
    one = significance_table(runs_frame(scores), ["finetune", "a"], references=("finetune",))
    scores["b"] = dict(enumerate(base + rng.normal(0.0, 0.01, 5)))
    two = significance_table(runs_frame(scores), ["finetune", "a", "b"], references=("finetune",))
    p_a = one.set_index("method").loc["a", "p_ttest"]
    adjusted = two.set_index("method")[["p_ttest", "p_ttest_holm"]]
    assert one.set_index("method").loc["a", "p_ttest_holm"] == pytest.approx(p_a)
    smaller = adjusted.p_ttest.min()
    assert adjusted.p_ttest_holm.min() == pytest.approx(min(1.0, 2 * smaller))
