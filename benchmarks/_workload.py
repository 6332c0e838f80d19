"""One task of a study config as the pipeline runs it: the step scripts' own `main` functions, called in-process.

A benchmark measures what the jobs do, with the settings a config gives them (config/config.yaml by default): the
same data preparation, teacher, cached logits and student runs as `snakemake` would start, in a scratch folder.
"""
from __future__ import annotations

import contextlib
import copy
import json
import shutil
import time
from pathlib import Path
from typing import Any

from _timing import REPO, fix_threads, use_repository_code

use_repository_code()  # the imports below, and the step scripts, come from this checkout

from swa_study.io import read_json  # noqa: E402
from swa_study.study.assets import model_slug  # noqa: E402
from swa_study.study.config import read_config_file  # noqa: E402
from swa_study.study.plan import Study, load_study  # noqa: E402


def load_config_study(config_path: str | Path, overrides: dict[str, dict[str, Any]] | None = None) -> Study:
    """The checked study of a config file, with `overrides` merged into its sections (e.g. {"data": {...}})."""
    config_path = Path(config_path)
    if not config_path.exists() and (REPO / config_path).exists():  # relative to the repository, from anywhere
        config_path = REPO / config_path
    config = read_config_file(config_path)
    for section, values in (overrides or {}).items():
        config[section] = {**config.get(section, {}), **values}
    mirror = config.get("assets", {}).get("mirror")
    if mirror and not Path(mirror).is_absolute():  # configs name it relative to the repository root
        config["assets"]["mirror"] = str((REPO / mirror).resolve())
    return load_study(config, str(config_path), REPO / "config")


def study_and_threads(args) -> tuple[Study, int]:
    """The study of `--config` (with `--train-size`, if given) and the fixed thread count (`--threads`, else the
    config's resources.train_threads): what every training benchmark starts from."""
    overrides = {"data": {"train_size": args.train_size}} if getattr(args, "train_size", None) else None
    study = load_config_study(args.config, overrides)
    threads = args.threads or study.config["resources"]["train_threads"]
    fix_threads(threads)
    return study, threads


class Workload:
    """Data, teacher, teacher logits and student runs of one task, each prepared at most once, in `scratch`."""

    def __init__(self, study: Study, task: str, scratch: str | Path, threads: int):
        self.study, self.task, self.threads = study, task, threads
        self.scratch = Path(scratch)
        self.config = study.config
        self._teacher: dict[str, Any] | None = None
        self._logits: tuple[str, float] | None = None

    @contextlib.contextmanager
    def step_output(self):
        """The step's own prints (the Trainer's log lines) go to scratch/steps.log, as a rule's log: the benchmark
        prints figures."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        with open(self.scratch / "steps.log", "a") as log, contextlib.redirect_stdout(log):
            yield

    def data(self, role: str) -> str:
        """The task tokenised for the teacher's or the student's checkpoint (the prepare_data step)."""
        import prepare_data

        model = self.study.model_name(role, self.task)
        folder = self.scratch / "data" / self.task / model_slug(model)
        if not folder.exists():
            data = self.config["data"]
            with self.step_output():
                prepare_data.main(self.study.task_param(self.task), model, self.config["assets"]["mirror"],
                                  self.study.input_length(self.task), data["train_size"], data["eval_size"],
                                  data["sample_seed"], self.config["models"]["trust_remote_code"],
                                  self.study.task_settings(self.task), str(folder), data["heldout_size"])
        return str(folder)

    def teacher(self, hp_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train the teacher once per scratch folder (the train_teacher step): its folder, metrics, step seconds."""
        import train_teacher

        if self._teacher is None:
            folder = self.scratch / "teacher" / self.task
            timing = folder / "step_seconds.json"  # another process of this benchmark may have trained it already
            if not timing.exists():
                started = time.perf_counter()
                with self.step_output():
                    train_teacher.main(
                        self.study.task_param(self.task), self.study.model_name("teacher", self.task),
                        self.config["assets"]["mirror"], self.config["models"]["trust_remote_code"],
                        self.data("teacher"), {**self.study.teacher_params(self.task), **(hp_overrides or {})},
                        self.config["teacher"]["seed"], self.threads, str(folder / "model"),
                        str(folder / "train_log.jsonl"), str(folder / "metrics.json"),
                        self.study.task_settings(self.task), self.study.input_length(self.task))
                timing.write_text(json.dumps(time.perf_counter() - started))
            metrics = read_json(folder / "metrics.json")
            self._teacher = {"model": str(folder / "model"), "metrics": metrics,
                             "step_seconds": json.loads(timing.read_text()),
                             "train_seconds": metrics["compute"]["train_seconds"]}
        return self._teacher

    def logits(self) -> tuple[str, float]:
        """The cached teacher logits on the training rows (the teacher_logits step) and the step's seconds."""
        import teacher_logits

        if self._logits is None:
            path = self.scratch / "teacher" / self.task / "train_logits.npz"
            timing = path.with_suffix(".seconds.json")
            if not timing.exists():
                model, data = self.teacher()["model"], self.data("teacher")
                started = time.perf_counter()
                with self.step_output():
                    teacher_logits.main(model, data, self.threads, str(path))
                timing.write_text(json.dumps(time.perf_counter() - started))
            self._logits = (str(path), json.loads(timing.read_text()))
        return self._logits

    def student(self, method: str, seed: int, hp_overrides: dict[str, Any] | None = None,
                teacher_inputs: tuple[str, ...] | None = None, keep: bool = False,
                checkpoints: dict[str, Any] | None = None) -> dict[str, Any]:
        """One train_student job; its compute facts (train_info.json) plus the step's wall seconds.

        `teacher_inputs` overrides what the DAG would hand the method ("logits", "model"), e.g. ("model",) for KD
        that runs the teacher on every batch instead of reading cached logits.
        """
        import train_student

        spec = self.study.methods[method]
        needs = self.study.teacher_inputs(method, self.task) if teacher_inputs is None else teacher_inputs
        hp = copy.deepcopy(self.study.student_params(method, self.task))
        hp.update(hp_overrides or {})
        folder = self.scratch / "runs" / f"{method}-{seed}-{time.monotonic_ns()}"
        data, logits = self.data("student"), self.logits()[0] if "logits" in needs else None
        teacher = self.teacher()["model"] if "model" in needs else None
        started = time.perf_counter()
        with self.step_output():
            train_student.main(
                self.study.task_param(self.task), method, spec.base.name, seed,
                self.study.model_name("student", self.task), self.config["assets"]["mirror"],
                self.config["models"]["trust_remote_code"], data, logits, hp, self.threads, str(folder / "model"),
                str(folder / "train_log.jsonl"), str(folder / "train_info.json"), teacher_model=teacher,
                checkpoints=checkpoints)
        seconds = time.perf_counter() - started
        info = read_json(folder / "train_info.json")
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        return {**info["compute"], "step_seconds": seconds, "hyperparameters": info["hyperparameters"]}
