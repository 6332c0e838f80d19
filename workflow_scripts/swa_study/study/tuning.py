"""Equal-budget tuning as config (Dodge et al. 2019, "Show Your Work"): every method gets the same number of trials.

A study's `tuning:` section names a grid per method (or variant): keys of that method (config/methods.yaml) or any
`student` key, each with the values to try. The grid is the product of those lists in the order written; when it
has more points than `tuning.trials`, that many are drawn from it without replacement, seeded by `tuning.seed` and
the method's name, so every method gets exactly `trials` settings however large its grid. Each trial trains once,
with `tuning.seed`, on the training rows and is scored on the held-out rows of the training split
(`data.heldout_size`), never on the dev split the tables report. The best trial per (task, method) wins (ties: the
lower trial number), and the study's seeds then train with that setting.

Part of the light study layer (no torch): the planner asks which trials exist and what each one sets.
"""
from __future__ import annotations

import itertools
import random
from typing import Any

from .config import ConfigError, schema_error

TUNING_FAMILIES = ("classification",)  # the families that prepare a held-out slice of the training split


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every setting of a grid, the last key varying fastest (the order the YAML writes the keys in)."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[key] for key in keys))]


def trial_settings(grid: dict[str, list[Any]], trials: int, seed: int, method: str) -> list[dict[str, Any]]:
    """The `trials` settings of one method: its whole grid in order when it has exactly that many points, else a
    seeded draw without replacement (kept in grid order, so trial numbers read along the grid)."""
    points = grid_points(grid)
    if len(points) == trials:
        return points
    chosen = sorted(random.Random(f"{seed}:{method}").sample(range(len(points)), trials))
    return [points[i] for i in chosen]


def check_tuning(config: dict[str, Any], methods: dict[str, str], section_schemas: dict[str, dict[str, Any]],
                 families: dict[str, str], config_name: str) -> dict[str, list[dict[str, Any]]]:
    """{method: its trial settings} for a study with `tuning.trials` > 0 ({} when tuning is off).

    `methods` maps each training method (or variant) of the study to its base method's name, `section_schemas` a
    base method to the schema of the settings it takes (its keys and the `student` keys), `families` each task to
    its family. Every rule of equal-budget tuning is checked here, each problem one line naming the key.
    """
    tuning = config.get("tuning") or {}
    trials, grids = int(tuning.get("trials", 0)), tuning.get("grid") or {}
    where = f"{config_name}: tuning"
    if trials == 0:
        if grids:
            raise ConfigError(f"{where}.grid: grids are given but tuning.trials is 0; set the number of trials "
                              "every method gets (the same for all: an equal tuning budget)")
        return {}
    for name in grids:
        if name not in methods:
            raise ConfigError(f"{where}.grid.{name}: not a training method of this study "
                              f"({', '.join(methods)})")
    for task, family in families.items():
        if family not in TUNING_FAMILIES:
            raise ConfigError(f"{where}.trials: trials are scored on the held-out training rows, which only "
                              f"{' and '.join(TUNING_FAMILIES)} tasks set aside; {task} is a {family} task")
    if not config["data"]["heldout_size"]:
        raise ConfigError(f"{config_name}: data.heldout_size: tuning scores its trials on the held-out training "
                          "rows; set it above 0")
    settings = {}
    for name, base in methods.items():
        if name not in grids:
            raise ConfigError(f"{where}.grid: no grid for {name!r}; equal-budget tuning gives every method of the "
                              f"study its {trials} trials (add e.g. {name}: {{learning_rate: [5.0e-5, 1.0e-4]}})")
        grid = grids[name]
        if not isinstance(grid, dict) or not grid:
            raise ConfigError(f"{where}.grid.{name}: give each key to tune with its values, "
                              "e.g. {learning_rate: [5.0e-5, 1.0e-4]}")
        allowed = section_schemas[base]["properties"]
        for key, values in grid.items():
            if key not in allowed:
                raise ConfigError(f"{where}.grid.{name}.{key}: method {base!r} has no key {key!r} (its keys: "
                                  f"{', '.join(allowed)})")
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}.grid.{name}.{key}: give a list of values to try, e.g. [{values!r}]")
            if len({repr(v) for v in values}) != len(values):
                raise ConfigError(f"{where}.grid.{name}.{key}: a value is listed twice ({values})")
        for key, values in grid.items():
            for i, value in enumerate(values):
                error = schema_error(section_schemas[base], {key: value}, config_name, f"tuning.grid.{name}")
                if error is not None:
                    raise ConfigError(f"{error} (tuning.grid.{name}.{key}[{i}])")
        size = len(grid_points(grid))
        if size < trials:
            raise ConfigError(f"{where}.grid.{name}: {size} settings, fewer than tuning.trials {trials}; every "
                              "method gets the same number of trials, so give it a larger grid or lower trials")
        settings[name] = trial_settings(grid, trials, int(tuning.get("seed", 0)), name)
    return settings


def best_trial(scores: list[tuple[int, float]]) -> int:
    """The winning trial: the highest held-out score, the lower trial number on a tie (a NaN score never wins)."""
    valid = [(trial, score) for trial, score in scores if score == score]
    if not valid:
        raise ValueError("no trial has a held-out score to select on")
    return max(valid, key=lambda pair: (round(pair[1], 12), -pair[0]))[0]


def setting_label(setting: dict[str, Any]) -> str:
    """A setting as one short line for tables: `learning_rate=0.0002, swa_lr=0.0001`."""
    return ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in setting.items())
