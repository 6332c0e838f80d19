"""The † mark's false-positive rate, measured: thousands of simulated studies under a true null go through the
functions the tables decide with (statistics.paired_t and holm_marks; significance_table and report.marked_cells
call the same, checked below), and a real shift must still be found.

The simulated study is the project's shape: a reference and three methods per task, one Holm family; every seed
moves all methods of that seed together (the shared head initialisation and data order) by more than a run's own
noise, so only the pairing makes the comparison sharp. Scores are fractions, as in metrics.json.
"""
import math

import numpy as np
import pandas as pd
import pytest

from swa_study.report import marked_cells
from swa_study.statistics import DECIMALS, bootstrap_interval, holm_marks, paired_t, significance_table

METHODS = ["finetune", "a", "b", "c"]  # the reference first
SEED_SD, RUN_SD = 0.010, 0.003  # a seed moves every method by about a point, a run by a third of one
DIFFERENCE_SD = RUN_SD * math.sqrt(2)  # the spread of one paired difference
STUDIES = 4000
BOUND = 0.07  # a 5 % test, with room for simulation noise (4000 x 3 comparisons: a standard error of 0.2 %)


def simulated_scores(rng: np.random.Generator, studies: int, seeds: int, shift: float = 0.0) -> np.ndarray:
    """(study, method, seed) dev scores; `shift` (in standard deviations of the paired differences) moves `a`."""
    seed_effect = rng.normal(0.0, SEED_SD, (studies, 1, seeds))
    scores = 0.75 + seed_effect + rng.normal(0.0, RUN_SD, (studies, len(METHODS), seeds))
    scores[:, 1] += shift * DIFFERENCE_SD
    return scores


def differences(scores: np.ndarray) -> np.ndarray:
    """(study, comparison, seed) method - reference x100, rounded, as significance_table forms them."""
    return np.round(scores[:, 1:] * 100 - scores[:, :1] * 100, DECIMALS)


def array_marks(scores: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """(study, comparison) marks: the t-test's p per comparison, Holm within each study (its family)."""
    return holm_marks(paired_t(differences(scores), alpha).p, alpha)[1]


def table_marks(scores: np.ndarray) -> np.ndarray:
    """The same marks through the tables' code: each study a task of one runs table, significance_table, then
    report.marked_cells (what summary.md puts † on)."""
    studies, methods, seeds = scores.shape
    study, method, seed = np.meshgrid(np.arange(studies), np.arange(methods), np.arange(seeds), indexing="ij")
    runs = pd.DataFrame({"task": [f"study{i}" for i in study.ravel()], "method": np.array(METHODS)[method.ravel()],
                         "seed": seed.ravel() + 1, "score": scores.ravel(), "main_metric": "accuracy"})
    marked = marked_cells(significance_table(runs, METHODS, references=("finetune",)), "finetune")
    return np.array([[(f"study{i}", m) in marked for m in METHODS[1:]] for i in range(studies)])


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_under_a_true_null_the_mark_fires_on_at_most_seven_percent_of_comparisons(seeds):
    marks = array_marks(simulated_scores(np.random.default_rng(seeds), STUDIES, seeds))
    assert marks.mean() <= BOUND, f"{seeds} seeds: {marks.mean():.3f} of null comparisons marked"
    assert marks.any(axis=1).mean() <= BOUND  # Holm holds the family-wise rate too: any mark in a study


def test_a_shift_of_one_standard_deviation_at_ten_seeds_is_marked_at_least_half_the_time():
    marks = array_marks(simulated_scores(np.random.default_rng(11), STUDIES, 10, shift=1.0))
    assert marks[:, 0].mean() >= 0.5, f"power {marks[:, 0].mean():.3f}"
    assert marks[:, 1:].mean() <= BOUND  # the two methods without a shift stay at the null rate


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_the_tables_mark_exactly_what_the_simulation_counts(seeds):
    """A shift of 1.5 sd on `a` gives both outcomes; every study's marks agree cell by cell."""
    scores = simulated_scores(np.random.default_rng(100 + seeds), 120, seeds, shift=1.5)
    expected = array_marks(scores)
    assert expected.any() and not expected.all()
    assert (table_marks(scores) == expected).all()


def test_the_old_rule_the_percentile_bootstrap_interval_fails_the_bound_at_three_seeds():
    """The rule the tables used before: † where the 95 % percentile-bootstrap interval of the paired differences
    excludes zero. With 3 seeds that interval is [min, max], so it fires whenever the three agree in sign: a
    quarter of null comparisons. The new mark, on the same draws, stays under the bound."""
    scores = simulated_scores(np.random.default_rng(3), 300, 3)
    d = differences(scores).reshape(-1, 3)
    old = np.array([low > 0 or high < 0 for low, high in (bootstrap_interval(row, seed=0) for row in d)])
    assert old.mean() > BOUND, f"old rule: {old.mean():.3f}"
    assert old.mean() == pytest.approx(0.25, abs=0.05)  # 2 x (1/2)^3: all three signs alike
    assert array_marks(scores).mean() <= BOUND


def test_a_cell_without_the_pairs_for_a_test_says_so_instead_of_a_mark():
    """One common seed: no test exists, so the paired table says "no test", the summary cell carries °, and
    the notes say what † and ° mean; a testable cell shows its t interval and the Holm-adjusted p."""
    from swa_study.flatness_report import flatness_markdown
    from swa_study.report import paired_cells, summary_markdown, summary_table, untestable_cells

    scores = {"finetune": {1: 0.70, 2: 0.72, 3: 0.74}, "swa": {1: 0.73, 2: 0.755, 3: 0.77}, "lonely": {3: 0.9}}
    runs = pd.DataFrame([{"task": "sst2", "method": m, "seed": s, "score": v, "main_metric": "accuracy"}
                         for m, by_seed in scores.items() for s, v in by_seed.items()])
    significance = significance_table(runs, list(scores), references=("finetune",))
    cells = paired_cells(significance, ["sst2"]).set_index("Method")["sst2"]
    assert cells["lonely"] == "+16.0 (n=1: no test)"
    # d = (3, 3.5, 3): mean 3.17, sd 0.289, t = 19, half width 4.303 x 0.289 / sqrt 3 = 0.72
    assert cells["swa"] == "+3.2 [+2.4, +3.9] † (n=3, p_t 0.003, p_W –)"
    untestable = untestable_cells(significance)
    assert untestable == {("sst2", "lonely")} and marked_cells(significance) == {("sst2", "swa")}
    markdown = summary_markdown(summary_table(runs, ["sst2"], list(scores)), ["sst2"], {"sst2": "accuracy"}, "t",
                                marked_cells(significance), untestable)
    assert "| lonely | 90.0 ° |" in markdown and "| swa | 75.2 ± 2.0 † |" in markdown
    assert "° fewer than 2 seeds paired with finetune: no test" in markdown
    flat = significance.assign(metric="sharpness")
    table = flatness_markdown(pd.DataFrame(), flat, 0.5)
    assert "| sst2 | lonely | 1 | +16 (n=1: no test) |" in table and "+3.17 [+2.45, +3.88] †, p" in table
