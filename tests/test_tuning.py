"""Equal-budget tuning: the trials a config plans, the checks that keep the budget equal, the winner's choice, and
expected validation performance (Dodge et al. 2019) against hand-computed values."""
import copy
import math

import pytest
import torch

from swa_study.methods import build_method
from swa_study.models import load_for_training
from swa_study.study.config import ConfigError
from swa_study.study.plan import load_study
from swa_study.study.tasks import builtin_task
from swa_study.study.tuning import best_trial, grid_points, setting_label, trial_settings
from swa_study.training import TrainSettings, training_arguments
from swa_study.tuning_report import expected_max
from tiny_study import REPO

BASE = {"study": "t", "tasks": ["sst2", "stsb"], "methods": ["finetune", "swa", "kd"], "seeds": [1, 2, 3],
        "models": {"teacher": "t", "student": "s"}}
GRID = {"finetune": {"learning_rate": [1e-4, 2e-4, 4e-4]},
        "swa": {"learning_rate": [1e-4, 2e-4], "swa_lr": [1e-4, 2e-4]},
        "kd": {"learning_rate": [1e-4, 2e-4, 4e-4]}}


def study(tuning=None, **overrides):
    config = copy.deepcopy({**BASE, **overrides})
    if tuning is not None:
        config["tuning"] = copy.deepcopy(tuning)
    return load_study(config, "study.yaml", REPO / "config")


def test_grid_points_follow_the_key_order_and_a_larger_grid_is_drawn_from_with_a_seed():
    assert grid_points({"a": [1, 2], "b": [3, 4]}) == [{"a": 1, "b": 3}, {"a": 1, "b": 4}, {"a": 2, "b": 3},
                                                       {"a": 2, "b": 4}]
    grid = {"a": [1, 2, 3], "b": [4, 5, 6]}
    drawn = trial_settings(grid, 4, seed=0, method="swa")
    assert len(drawn) == 4 and len({setting_label(d) for d in drawn}) == 4  # without replacement
    assert drawn == trial_settings(grid, 4, seed=0, method="swa")  # seeded
    assert drawn != trial_settings(grid, 4, seed=1, method="swa")
    positions = [grid_points(grid).index(d) for d in drawn]
    assert positions == sorted(positions)  # kept in grid order: trial numbers read along the grid


def test_every_method_gets_the_same_number_of_trials_on_every_task():
    s = study({"trials": 3, "grid": GRID})
    trials = s.trials()
    assert len(trials) == 2 * 3 * 3
    assert {(t, m) for t, m, _ in trials} == {(t, m) for t in ("sst2", "stsb") for m in ("finetune", "swa", "kd")}
    assert s.trial_setting("finetune", 2) == {"learning_rate": 2e-4}
    params = s.trial_params("swa", "sst2", 1)
    assert params["learning_rate"] == params["swa_lr"] == 1e-4 and params["swa_start"] == 0.5  # over the defaults
    assert study().trials() == [] and not study().is_tuned("swa")  # no tuning section: nothing changes


@pytest.mark.parametrize("tuning, overrides, message", [
    ({"trials": 3, "grid": {k: v for k, v in GRID.items() if k != "kd"}}, {},
     "tuning.grid: no grid for 'kd'; equal-budget tuning gives every method"),
    ({"trials": 5, "grid": GRID}, {}, "tuning.grid.finetune: 3 settings, fewer than tuning.trials 5"),
    ({"trials": 3, "grid": {**GRID, "kd": {"swa_lr": [1e-4, 2e-4, 3e-4]}}}, {},
     "tuning.grid.kd.swa_lr: method 'kd' has no key 'swa_lr'"),
    ({"trials": 3, "grid": {**GRID, "kd": {"alpha": [0.5, 0.9, 1.5]}}}, {},
     "tuning.grid.kd.alpha: 1.5 is greater than the maximum of 1 (tuning.grid.kd.alpha[2])"),
    ({"trials": 3, "grid": {**GRID, "kd": {"learning_rate": [1e-4, 1e-4, 2e-4]}}}, {},
     "tuning.grid.kd.learning_rate: a value is listed twice"),
    ({"trials": 3, "grid": {**GRID, "ema": {"learning_rate": [1e-4]}}}, {},
     "tuning.grid.ema: not a training method of this study"),
    ({"trials": 0, "grid": GRID}, {}, "tuning.grid: grids are given but tuning.trials is 0"),
    ({"trials": 3, "grid": GRID}, {"data": {"heldout_size": 0}}, "data.heldout_size: tuning scores its trials"),
    ({"trials": 3, "grid": {"finetune": GRID["finetune"]}}, {"tasks": ["squad"], "methods": ["finetune"]},
     "trials are scored on the held-out training rows, which only classification tasks set aside; squad is a qa"),
])
def test_a_budget_that_is_not_equal_or_not_held_out_is_refused_with_one_line(tuning, overrides, message):
    with pytest.raises(ConfigError) as error:
        study(tuning, **overrides)
    assert message in str(error.value) and str(error.value).startswith("study.yaml: ")
    assert "\n" not in str(error.value)


def test_the_best_held_out_score_wins_and_a_tie_goes_to_the_lower_trial():
    assert best_trial([(1, 0.70), (2, 0.81), (3, 0.75)]) == 2
    assert best_trial([(1, 0.70), (2, 0.81), (3, 0.81)]) == 2
    assert best_trial([(3, 0.81), (2, 0.81), (1, 0.70)]) == 2  # whatever order the files came in
    assert best_trial([(1, math.nan), (2, 0.5)]) == 2
    with pytest.raises(ValueError):
        best_trial([(1, math.nan)])


def test_expected_validation_performance_matches_hand_computed_values():
    """Scores (1, 2, 3): the best of k draws with replacement is 3 with probability 1 - (2/3)^k, 2 with
    (2/3)^k - (1/3)^k, 1 with (1/3)^k (Dodge et al. 2019)."""
    mean, std = expected_max([3.0, 1.0, 2.0], 1)
    assert mean == pytest.approx(2.0) and std == pytest.approx(math.sqrt(2 / 3))
    mean, std = expected_max([3.0, 1.0, 2.0], 2)
    assert mean == pytest.approx((1 * 1 + 2 * 3 + 3 * 5) / 9)  # weights 1/9, 3/9, 5/9
    assert std == pytest.approx(math.sqrt((1 * 1 + 4 * 3 + 9 * 5) / 9 - (22 / 9) ** 2))
    assert expected_max([3.0, 1.0, 2.0], 50)[0] == pytest.approx(3.0, abs=1e-6)
    assert expected_max([0.5, 0.5], 3) == (0.5, 0.0)


def test_the_heldout_curve_scores_every_epoch_and_leaves_training_unchanged(tiny_classifier, tmp_path):
    """Scoring the held-out rows after each epoch must not move training: same weights with the curve as without."""
    model, tokenizer, rows = tiny_classifier
    heldout, train = rows.select(range(8)), rows.select(range(8, 24))
    task = builtin_task("sst2")
    weights, logs = {}, {}
    for curve in (False, True):
        model, tokenizer = load_for_training(str(tmp_path / "models" / "tiny"), task, seed=0)
        hp = {"epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "logging_steps": 1, "heldout_curve": curve}
        method = build_method("finetune", task, hp)
        args = training_arguments(TrainSettings.from_params(hp, seed=3), tmp_path / f"trainer{curve}")
        method.train(model, tokenizer, train, args, tmp_path / f"log{curve}.jsonl", heldout_dataset=heldout)
        weights[curve] = {k: v.clone() for k, v in model.state_dict().items()}
        logs[curve] = (tmp_path / f"log{curve}.jsonl").read_text()
    for key, value in weights[False].items():
        assert torch.equal(value, weights[True][key]), key
    assert "heldout_accuracy" not in logs[False]
    assert logs[True].count('"heldout_accuracy"') == 3  # one score per epoch
