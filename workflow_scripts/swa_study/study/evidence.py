"""What the evidence of a study covers, as the planner needs it: which runs get the flatness analysis and which of
them the interpolation line, per-task seeds, and the checks of config `analysis:` that a schema cannot express.

Part of the light study layer (no torch): the rules ask these questions while planning.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ConfigError

if TYPE_CHECKING:
    from .plan import Study

LINE_REFERENCE = "finetune"  # the line runs from this method's weights of the same seed to the run's own


def check_evidence_config(config: dict[str, Any], method_names: list[str], config_name: str) -> None:
    """One-line errors for `analysis:` and `seeds_by_task` settings that do not fit together."""
    analysis = config.get("analysis", {})
    if analysis.get("sharpness_radius") not in analysis.get("radii", []):
        raise ConfigError(f"{config_name}: analysis.sharpness_radius: {analysis.get('sharpness_radius')} is not one "
                          f"of analysis.radii {analysis.get('radii')}; the scalar sharpness is read off that curve")
    for i, name in enumerate(analysis.get("line_methods", [])):
        if name not in method_names:
            raise ConfigError(f"{config_name}: analysis.line_methods[{i}]: {name!r} is not a method of "
                              f"config/methods.yaml ({', '.join(method_names)})")
    for task, seeds in (config.get("seeds_by_task") or {}).items():
        if task not in config["tasks"]:
            raise ConfigError(f"{config_name}: seeds_by_task.{task}: not a task of this study ({', '.join(config['tasks'])})")


def task_seeds(study: Study, task: str) -> list[int]:
    """The seeds of `task`: `seeds_by_task[task]` where a study asks for more (or other) seeds there, else `seeds`.

    Every method of a task runs the same seeds, so the paired comparisons use them all.
    """
    return list((study.config.get("seeds_by_task") or {}).get(task, study.seeds))


def analysis_enabled(study: Study) -> bool:
    return bool(study.config["analysis"]["enabled"])


def line_start(study: Study, task: str, method: str) -> str | None:
    """The method whose weights (same task and seed) the run's interpolation line starts from, or None.

    A run gets the line when its base method is in `analysis.line_methods` (by default the averaging methods, swa
    and swa_kd, variants included) and the study also runs `finetune` on the task: the line then goes from the
    fine-tuned weights (alpha 0) to the run's own (alpha 1).
    """
    base = study.methods[method].base.name
    if method == LINE_REFERENCE or base not in study.config["analysis"]["line_methods"]:
        return None
    if LINE_REFERENCE not in study.methods or not study.applies(LINE_REFERENCE, task):
        return None
    return LINE_REFERENCE
