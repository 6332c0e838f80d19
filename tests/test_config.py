"""The config schema: the shipped configs pass, and each kind of mistake gets one line naming file and key."""
import copy
from pathlib import Path

import pytest
import yaml

from swa_study.methods import METHODS
from swa_study.study_config import (ConfigError, check_config, input_length, student_params, task_settings,
                                    teacher_params)
from swa_study.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    check_config(load(name), SCHEMA, name)


def test_schema_lists_exactly_the_registered_methods_and_tasks():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(schema["properties"]["methods"]["items"]["enum"]) == set(METHODS)
    assert set(schema["properties"]["tasks"]["items"]["enum"]) == set(TASKS)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["student"].update(batch_size="32"), "config.yaml: student.batch_size: '32' is not of type 'integer'"),
        (lambda c: c["methods"].append("dropout"), "config.yaml: methods[3]: 'dropout' is not one of"),
        (lambda c: c["tasks"].append("squadv3"), "config.yaml: tasks[2]: 'squadv3' is not one of"),
        (lambda c: c["student"].update(learning_rate=-1e-5), "config.yaml: student.learning_rate: -1e-05 is less than or equal to the minimum of 0"),
        (lambda c: c["method_params"]["swa"].update(swa_strat=0.5), "config.yaml: method_params.swa: Unevaluated properties are not allowed ('swa_strat' was unexpected)"),
    ],
    ids=["wrong-type", "unknown-method", "unknown-task", "negative-lr", "misspelt-key"],
)
def test_schema_rejects_with_one_clear_line(edit, expected):
    config = load("config.yaml")
    edit(config)
    with pytest.raises(ConfigError) as caught:
        check_config(config, SCHEMA, "config.yaml")
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_method_section_overrides_student_settings_for_that_method_only():
    config = copy.deepcopy(load("config.yaml"))
    config["method_params"]["kd"]["learning_rate"] = 1e-4
    assert student_params(config, "kd")["learning_rate"] == 1e-4
    assert student_params(config, "kd")["alpha"] == 0.5
    assert student_params(config, "finetune")["learning_rate"] == config["student"]["learning_rate"]


def test_a_task_family_section_overrides_training_settings_for_its_tasks_only():
    config = copy.deepcopy(load("paper.yaml"))
    assert student_params(config, "swa", "qa")["epochs"] == config["qa"]["student"]["epochs"] != config["student"]["epochs"]
    assert student_params(config, "swa", "classification")["epochs"] == config["student"]["epochs"]
    assert student_params(config, "swa", "qa")["swa_start"] == config["method_params"]["swa"]["swa_start"]
    assert teacher_params(config, "generation")["learning_rate"] == config["generation"]["teacher"]["learning_rate"]
    assert "seed" not in teacher_params(config, "qa")
    assert input_length(config, "qa") == 384 and input_length(config, "classification") == config["data"]["max_length"]
    assert "student" not in task_settings(config, "qa") and task_settings(config, "qa")["doc_stride"] == 128


def test_every_shipped_config_passes_the_schema():
    for name in ("config.yaml", "kd-study.yaml", "qa-study.yaml", "generation-study.yaml", "paper.yaml"):
        check_config(load(name), SCHEMA, name)
