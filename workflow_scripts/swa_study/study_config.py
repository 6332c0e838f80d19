"""Config checks with one-line messages, and the per-job hyper-parameters derived from a validated config.

Snakemake's `validate` fills the schema's defaults but reports a bare jsonschema message; `check_config` runs first
and names the config file and the offending key, so a typo costs one line to read, not a traceback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


class ConfigError(ValueError):
    """The config does not match the schema; the message is `<file>: <key path>: <problem>`."""


def check_config(config: dict[str, Any], schema_path: str | Path, config_name: str) -> None:
    """Raise ConfigError naming the first (most relevant) schema violation of `config`."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        where = error.json_path.removeprefix("$.").removeprefix("$") or "(top level)"
        raise ConfigError(f"{config_name}: {where}: {error.message}")


FAMILY_RUN_KEYS = ("max_length", "teacher", "student")  # family-section keys that are training settings, not task ones


def family_overrides(config: dict[str, Any], family: str, role: str) -> dict[str, Any]:
    """A task family's own `teacher:` / `student:` settings (config `qa:`, `generation:`); none for classification."""
    return config.get(family, {}).get(role, {})


def teacher_params(config: dict[str, Any], family: str) -> dict[str, Any]:
    """The teacher's training settings for a task of `family` (the seed is a separate rule parameter)."""
    return {k: v for k, v in {**config["teacher"], **family_overrides(config, family, "teacher")}.items() if k != "seed"}


def student_params(config: dict[str, Any], method: str, family: str = "classification") -> dict[str, Any]:
    """The student's shared training settings, then its task family's, then the method's own section on top.

    These go into the training rule's `params:`, so editing one method's section reruns only that method's jobs.
    """
    return {**config["student"], **family_overrides(config, family, "student"), **config["method_params"].get(method, {})}


def task_settings(config: dict[str, Any], family: str) -> dict[str, Any]:
    """The family section's settings for data preparation and scoring (span search, decoding, offline split)."""
    return {k: v for k, v in config.get(family, {}).items() if k not in FAMILY_RUN_KEYS}


def input_length(config: dict[str, Any], family: str) -> int:
    """Tokens per model input: the family's `max_length` if set, else data.max_length."""
    return config.get(family, {}).get("max_length") or config["data"]["max_length"]
