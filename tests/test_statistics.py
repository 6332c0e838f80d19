"""Paired statistics over seeds: the Student-t interval and test, Holm and the marks, Wilcoxon and the bootstrap
where n allows them; checked against closed forms. The marks' false-positive rate: test_marks.py."""
import math

import numpy as np
import pandas as pd
import pytest

from scipy import stats

from swa_study.statistics import (BOOTSTRAP_MIN_PAIRS, bootstrap_interval, holm, holm_marks, paired_comparison,
                                  paired_t, significance_table, wilcoxon_min_pairs)


def test_the_interval_of_a_constant_difference_is_that_point():
    assert bootstrap_interval(np.array([0.7, 0.7, 0.7, 0.7]), seed=0) == (0.7, 0.7)
    result = paired_comparison([0.81, 0.75, 0.92], [0.80, 0.74, 0.91])  # a shift of 0.01 on every seed
    assert result.ci_low == result.ci_high == pytest.approx(0.01) and result.p_ttest == 0.0


def test_the_t_interval_matches_the_closed_form():
    """d = (1, 2, 3): mean 2, sd 1, half width t_{0.975, 2} / sqrt 3 = 4.302653 / 1.732051 = 2.4841."""
    result = paired_comparison([11.0, 22.0, 33.0], [10.0, 20.0, 30.0])
    assert result.mean_difference == pytest.approx(2.0)
    assert (result.ci_low, result.ci_high) == pytest.approx((2 - 2.4841, 2 + 2.4841), abs=1e-4)
    assert paired_t(np.array([1.0, 2.0, 3.0]), alpha=0.10).high == pytest.approx(2 + 2.919986 / math.sqrt(3))
    many = paired_t(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]))  # one row per comparison
    assert many.high.tolist() == pytest.approx([2 + 2.4841, 0.0, 2.0], abs=1e-4) and many.p.tolist()[1:] == [1.0, 0.0]


def test_bootstrap_interval_of_three_values_spans_their_range():
    """With 3 values, each extreme resample (all three draws the same value) has probability 1/27 > 2.5 %, so the
    percentile interval is [min, max] exactly: it excludes zero whenever the three seeds agree in sign, a quarter
    of the time under a true null. Why the tables show it only from BOOTSTRAP_MIN_PAIRS pairs."""
    assert bootstrap_interval(np.array([1.0, 2.0, 6.0]), seed=0) == (1.0, 6.0)
    assert math.isnan(paired_comparison([1.0, 2.0, 6.0], [0.0, 0.0, 0.0]).bootstrap_low)


def test_bootstrap_interval_is_seeded_and_narrows_with_more_values():
    rng = np.random.default_rng(1)
    small, large = rng.normal(1.0, 1.0, 6), rng.normal(1.0, 1.0, 60)
    assert bootstrap_interval(small, seed=3) == bootstrap_interval(small, seed=3)
    low_s, high_s = bootstrap_interval(small, seed=3)
    low_l, high_l = bootstrap_interval(large, seed=3)
    assert high_l - low_l < high_s - low_s
    assert low_l < large.mean() < high_l


def test_identical_runs_show_no_difference():
    scores = [0.71, 0.78, 0.74, 0.80, 0.69, 0.75]
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
    assert stats.ttest_rel([11.0, 22.0, 33.0], [10.0, 20.0, 30.0]).pvalue == pytest.approx(result.p_ttest)
    assert math.isnan(result.p_wilcoxon)  # 3 pairs: Wilcoxon's floor is 2 / 2^3 = 0.25, it cannot say yes


def test_wilcoxon_appears_from_the_first_n_at_which_it_can_reach_the_level():
    """scipy's exact p for n positive differences is 2 / 2^n: 0.0625 at 5 pairs, 0.03125 at 6."""
    assert stats.wilcoxon(np.arange(1.0, 6.0)).pvalue == pytest.approx(0.0625)
    assert stats.wilcoxon(np.arange(1.0, 7.0)).pvalue == pytest.approx(0.03125)
    assert wilcoxon_min_pairs(0.05) == 6 and wilcoxon_min_pairs(0.10) == 5 and wilcoxon_min_pairs(0.01) == 8
    five = paired_comparison(np.arange(1.0, 6.0), np.zeros(5))
    six = paired_comparison(np.arange(1.0, 7.0), np.zeros(6))
    assert math.isnan(five.p_wilcoxon) and math.isnan(five.wilcoxon_w)
    assert six.p_wilcoxon == pytest.approx(0.03125) and six.wilcoxon_w == 0.0


def test_the_bootstrap_columns_appear_from_ten_pairs():
    rng = np.random.default_rng(2)
    d = rng.normal(1.0, 1.0, BOOTSTRAP_MIN_PAIRS)
    below = paired_comparison(d[:-1], np.zeros(len(d) - 1))
    at = paired_comparison(d, np.zeros(len(d)), seed=5)
    assert math.isnan(below.bootstrap_low) and math.isnan(below.bootstrap_high)
    assert (at.bootstrap_low, at.bootstrap_high) == pytest.approx(bootstrap_interval(d, seed=5))
    assert math.isnan(paired_comparison(d, np.zeros(len(d)), bootstrap=False).bootstrap_low)


def test_a_noisy_shift_is_significant_and_noise_alone_is_not():
    rng = np.random.default_rng(0)
    reference = rng.normal(0.75, 0.03, 10)
    shifted = paired_comparison(reference + 0.02 + rng.normal(0, 0.002, 10), reference)
    assert shifted.p_ttest < 1e-6 and shifted.p_wilcoxon < 0.01 and shifted.ci_low > 0.015
    noise = paired_comparison(reference + rng.normal(0, 0.002, 10), reference)
    assert noise.p_ttest > 0.05 and noise.ci_low < 0 < noise.ci_high


def test_fewer_than_two_pairs_give_nan_not_an_error():
    result = paired_comparison([0.8], [0.7])
    assert result.n == 1 and result.mean_difference == pytest.approx(0.1) and not result.testable
    assert all(math.isnan(v) for v in (result.ci_low, result.ci_high, result.p_ttest, result.p_wilcoxon,
                                       result.bootstrap_low))
    assert not result.ci_excludes_zero
    assert paired_comparison([0.8, 0.9], [0.7, 0.7]).testable  # 2 pairs: the t-test has one degree of freedom


def test_holm_adjusts_by_rank_and_keeps_the_order_monotone():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0
    rows = holm(np.array([[0.01, 0.04, 0.03], [0.2, math.nan, 0.01]]))  # one family per row
    assert rows.tolist()[0] == pytest.approx([0.03, 0.06, 0.06])
    assert rows[1] == pytest.approx([0.2, math.nan, 0.02], nan_ok=True)


def test_holm_marks_pass_only_below_the_level():
    adjusted, marks = holm_marks([0.01, 0.02, 0.04])  # adjusted 0.03, 0.04, 0.04: all below 0.05
    assert adjusted == pytest.approx([0.03, 0.04, 0.04]) and marks.tolist() == [True, True, True]
    assert holm_marks([0.01, 0.03, 0.04])[1].tolist() == [True, False, False]  # 0.06 for the other two
    assert holm_marks([0.01, math.nan])[1].tolist() == [True, False]  # NaN: one comparison, no mark
    assert holm_marks([0.02], alpha=0.01)[1].tolist() == [False]


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
    assert vs_ft.loc["swa", "ci_excludes_zero"] and vs_ft.loc["swa", "n"] == 4 and vs_ft.loc["swa", "mark"]
    assert vs_ft.loc["kd", "n"] == 3 and vs_ft.loc["kd", "seeds"] == "1 2 3"
    assert vs_ft.loc["kd", "difference"] == pytest.approx(0.0) and not vs_ft.loc["kd", "ci_excludes_zero"]
    assert not vs_ft.loc["kd", "mark"] and vs_ft.loc["kd", "testable"]
    assert vs_ft.loc["lonely", "n"] == 1 and math.isnan(vs_ft.loc["lonely", "p_ttest_holm"])
    assert not vs_ft.loc["lonely", "testable"] and not vs_ft.loc["lonely", "mark"]
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


def test_the_mark_is_holm_adjusted_so_an_interval_can_exclude_zero_without_one():
    """d = (1, 1.5, 2): t = 3 sqrt 3, p = 1 - t / sqrt(t^2 + 2) = 0.035: the interval excludes zero and, alone
    in its family, the cell is marked; beside two methods with no difference Holm makes it 3 x 0.035 > 0.05."""
    base = {1: 0.70, 2: 0.72, 3: 0.74}
    scores = {"finetune": base, "a": {s: v + [0.01, 0.015, 0.02][s - 1] for s, v in base.items()}}
    alone = significance_table(runs_frame(scores), ["finetune", "a"], references=("finetune",)).iloc[0]
    assert alone.p_ttest == pytest.approx(1 - 3 * math.sqrt(3) / math.sqrt(29)) and alone.mark
    scores.update({"b": dict(base), "c": dict(base)})
    table = significance_table(runs_frame(scores), ["finetune", "a", "b", "c"], references=("finetune",))
    a = table.set_index("method").loc["a"]
    assert a.ci_excludes_zero and a.p_ttest_holm == pytest.approx(3 * alone.p_ttest) and not a.mark


def test_matched_pairs_compare_each_method_with_its_own_reference_in_a_family_of_their_own():
    """The ablation's control: swa_lr2x against finetune_lr2x, beside the comparisons with finetune."""
    seeds = [1, 2, 3, 4]
    scores = {"finetune": [70, 72, 71, 73], "finetune_lr2x": [74, 75, 75, 77], "swa_lr2x": [75, 76, 76, 78]}
    runs = pd.DataFrame([{"task": "sst2", "method": m, "seed": s, "score": v / 100}
                         for m, values in scores.items() for s, v in zip(seeds, values)])
    table = significance_table(runs, list(scores), references=("finetune",), matched={"swa_lr2x": "finetune_lr2x"})
    matched = table[table.holm_family == "sst2 matched"]
    assert len(matched) == 1 and matched.iloc[0].reference == "finetune_lr2x"
    assert matched.iloc[0].difference == pytest.approx(1.0)  # every seed +1 point: t is infinite, p 0
    assert matched.iloc[0].mark and matched.iloc[0].p_ttest_holm == 0.0
    vs_finetune = table[table.holm_family == "sst2 vs finetune"].set_index("method")
    assert vs_finetune.loc["swa_lr2x", "difference"] == pytest.approx(4.75)
