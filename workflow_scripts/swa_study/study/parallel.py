"""Planning-time checks of data-parallel training (resources.train_processes), so that a setting that cannot work
stops the study before any job runs, with one line naming the config key, instead of failing hours into a job.

Each of N processes takes batch_size / N rows of every global batch, so every training job's batch size must be a
multiple of N. MATE-KD trains in one process whatever the setting (`job_processes`): its generator draws masks from
one random stream per process, and the draws for each rank's share of the batch would leave the ranks' generators
(and the result) apart from a one-process run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .config import ConfigError

if TYPE_CHECKING:
    from .plan import Study

SINGLE_PROCESS_METHODS = ("mate_kd",)


def job_processes(config: dict, base_method: str | None = None) -> int:
    """The processes a training job runs as: resources.train_processes, or 1 for a method that cannot split."""
    if base_method in SINGLE_PROCESS_METHODS:
        return 1
    return int(config["resources"]["train_processes"])


def batch_size_key(study: "Study", role: str, task: str, method: str | None = None) -> str:
    """The config key whose value is the job's batch size (the most specific one that sets it)."""
    config, family = study.config, study.family(task)
    candidates = [f"{role}.batch_size"]
    if "batch_size" in study.family_section(task).get(role, {}):
        candidates.append(f"{family}.{role}.batch_size")
    if method is not None:
        choice = study.methods[method]
        if "batch_size" in config["method_params"].get(choice.base.name, {}):
            candidates.append(f"method_params.{choice.base.name}.batch_size")
        if "batch_size" in choice.overrides:
            candidates.append(f"variants.{method}.batch_size")
    return candidates[-1]


def check_data_parallel(study: "Study", config_name: str) -> None:
    """Refuse, before any job runs, a training job that cannot split over resources.train_processes."""
    processes = int(study.config["resources"]["train_processes"])
    if processes == 1:
        return
    jobs = [("teacher", task, None, study.teacher_params(task)) for task in study.tasks if study.needs_teacher(task)]
    jobs += [("student", task, method, study.student_params(method, task))
             for task in study.tasks for method in study.methods if study.applies(method, task)]
    for role, task, method, params in jobs:
        if method is not None and study.methods[method].base.name in SINGLE_PROCESS_METHODS:
            continue
        if int(params["batch_size"]) % processes:
            raise ConfigError(f"{config_name}: {batch_size_key(study, role, task, method)}: {params['batch_size']} "
                              f"does not split over resources.train_processes {processes} (task {task}); make it "
                              "a multiple")
