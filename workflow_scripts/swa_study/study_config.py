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


def student_params(config: dict[str, Any], method: str) -> dict[str, Any]:
    """The student's shared training settings with the method's own section layered on top.

    These go into the training rule's `params:`, so editing one method's section reruns only that method's jobs.
    """
    return {**config["student"], **config["method_params"].get(method, {})}
