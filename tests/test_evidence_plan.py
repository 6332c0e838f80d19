"""The study layer's side of the evidence: which runs get the interpolation line, per-task seeds, and the checks of
config `analysis:` and `seeds_by_task` (one line naming the key)."""
import copy
from pathlib import Path

import pytest
import yaml

from swa_study.study.config import ConfigError
from swa_study.study.evidence import line_start, task_seeds
from swa_study.study.plan import load_study

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
BASE = yaml.safe_load((CONFIG_DIR / "config.yaml").read_text())


def study(**changes):
    config = copy.deepcopy(BASE)
    config.update(changes)
    return load_study(config, "config.yaml", CONFIG_DIR)


def test_averaging_runs_and_their_variants_get_the_line_from_finetune():
    s = study(methods=["finetune", "swa", "kd", "swa_kd", "swa_late"],
              variants={"swa_late": {"method": "swa", "swa_start": 0.75}})
    assert {m: line_start(s, "sst2", m) for m in s.methods} == {
        "finetune": None, "swa": "finetune", "kd": None, "swa_kd": "finetune", "swa_late": "finetune"}
    wider = study(methods=["finetune", "kd"], analysis={"line_methods": ["swa", "kd"]})
    assert line_start(wider, "sst2", "kd") == "finetune"


def test_without_finetune_no_run_gets_a_line():
    s = study(methods=["swa", "kd"])
    assert line_start(s, "sst2", "swa") is None


def test_seeds_by_task_gives_every_method_of_that_task_its_seeds():
    s = study(seeds=[1, 2, 3], seeds_by_task={"stsb": [1, 2, 3, 4, 5]})
    assert task_seeds(s, "sst2") == [1, 2, 3] and task_seeds(s, "stsb") == [1, 2, 3, 4, 5]
    runs = s.runs()
    assert len(runs) == 3 * 3 + 3 * 5
    assert {seed for task, method, seed in runs if task == "stsb" and method == "kd"} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("changes, message", [
    ({"analysis": {"radii": [0.1, 0.2], "sharpness_radius": 0.3}},
     "config.yaml: analysis.sharpness_radius: 0.3 is not one of analysis.radii [0.1, 0.2]"),
    ({"analysis": {"line_methods": ["swa_typo"]}},
     "config.yaml: analysis.line_methods[0]: 'swa_typo' is not a method of config/methods.yaml"),
    ({"seeds_by_task": {"cola": [1]}}, "config.yaml: seeds_by_task.cola: not a task of this study"),
    ({"analysis": {"batches": 0}}, "config.yaml: analysis.batches: 0 is less than the minimum of 1"),
    ({"statistics": {"seed": -1}}, "config.yaml: statistics.seed: -1 is less than the minimum of 0"),
])
def test_bad_evidence_settings_are_one_line_errors(changes, message):
    with pytest.raises(ConfigError) as caught:
        study(**changes)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
