"""A study as a grid: tasks x methods (built-in or variants) x seeds, with every job's settings resolved.

`load_study` checks a config (schema, variants, task definitions) and returns a `Study`, which answers everything
the rules ask while planning: which (task, method, seed) runs exist, the base method and hyper-parameters of each,
which checkpoints and teacher outputs a run needs. A variant is a name, a base method and overrides; from here on
it is a method like any other (its own jobs, folders, table row and MLflow parent).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import (ConfigError, check_results_dir, check_tracking_uri, check_uri_credentials, check_variants,
                     section_schema, study_schema, task_definitions, validate_config)
from .evidence import check_evidence_config, task_seeds
from .methods import MethodSpec, load_methods
from .parallel import check_data_parallel
from .tasks import TaskDefinitionError, TaskSpec, task_from_definition
from .tuning import check_tuning

FAMILY_RUN_KEYS = ("max_length", "teacher", "student")  # family-section keys that are training settings, not task ones
SOUP_RECIPES = ("uniform", "greedy")  # Wortsman et al. 2022


@dataclass(frozen=True)
class StudyMethod:
    """One row of the study: a built-in method, or a variant (a base method with overrides)."""

    name: str
    base: MethodSpec
    overrides: dict[str, Any]

    @property
    def is_variant(self) -> bool:
        return self.name != self.base.name


@dataclass
class Study:
    config: dict[str, Any]
    tasks: dict[str, TaskSpec]  # in config order
    methods: dict[str, StudyMethod]  # in config order
    seeds: list[int]
    trial_settings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # tuned method -> its trials

    # --- what runs ---------------------------------------------------------------------------------------------
    def family(self, task: str) -> str:
        return self.tasks[task].family

    def applies(self, method: str, task: str) -> bool:
        return self.methods[method].base.applies_to(self.family(task))

    def skipped(self) -> dict[str, list[str]]:
        """{task: [methods not defined for its family]}, for the note the planner prints."""
        return {task: [m for m in self.methods if not self.applies(m, task)] for task in self.tasks
                if any(not self.applies(m, task) for m in self.methods)}

    def runs(self) -> list[tuple[str, str, int]]:
        """The training runs (task, method, seed); soups are not runs of their own (see `soups`)."""
        return [(task, method, seed) for task in self.tasks for method in self.methods
                if self.applies(method, task) and not self.methods[method].base.is_soup
                for seed in task_seeds(self, task)]

    # --- equal-budget tuning: trials on the held-out rows, then the seeds with the winner (study/tuning.py) ----
    def is_tuned(self, method: str) -> bool:
        return method in self.trial_settings

    def trials(self) -> list[tuple[str, str, int]]:
        """The tuning trials (task, method, trial number from 1), for every tuned method on every task it applies to."""
        return [(task, method, trial) for task in self.tasks for method in self.methods
                if self.is_tuned(method) and self.applies(method, task)
                for trial in range(1, len(self.trial_settings[method]) + 1)]

    def trial_setting(self, method: str, trial: int) -> dict[str, Any]:
        return dict(self.trial_settings[method][trial - 1])

    def trial_params(self, method: str, task: str, trial: int) -> dict[str, Any]:
        """What one trial trains with: the method's settings (`student_params`) with the trial's setting on top."""
        return {**self.student_params(method, task), **self.trial_setting(method, trial)}

    @property
    def tuning_seed(self) -> int:
        return int(self.config["tuning"]["seed"])

    # --- model soups: rules over finished runs -------------------------------------------------------------------
    def soup_recipes(self, task: str) -> tuple[str, ...]:
        """uniform for every family; greedy also where the task has a held-out slice of its training split to order
        the ingredients on (classification; QA and generation prepare none)."""
        return SOUP_RECIPES if self.family(task) == "classification" else SOUP_RECIPES[:1]

    def soups(self) -> list[tuple[str, str, str]]:
        """(task, soup, recipe) for every soup of the study; each is one job and one table row `<soup>_<recipe>`."""
        return [(task, name, recipe) for task in self.tasks for name, choice in self.methods.items()
                if choice.base.is_soup and self.applies(name, task) and self.applies(self.soup_ingredients(name), task)
                for recipe in self.soup_recipes(task)]

    def soup_ingredients(self, soup: str) -> str:
        """The method (or variant) whose runs across the study's seeds a soup mixes."""
        choice = self.methods[soup]
        return {**choice.base.defaults(), **self.config["method_params"].get(choice.base.name, {}),
                **choice.overrides}["ingredients"]

    def table_rows(self) -> list[str]:
        """The summary's rows in config order: each method, a soup as one row per recipe."""
        return [row for name, choice in self.methods.items()
                for row in ([f"{name}_{r}" for r in SOUP_RECIPES] if choice.base.is_soup else [name])]

    def teacher_inputs(self, method: str, task: str) -> tuple[str, ...]:
        return self.methods[method].base.teacher_inputs(self.family(task))

    def needs_teacher(self, task: str) -> bool:
        return any(self.applies(m, task) and self.teacher_inputs(m, task) for m in self.methods)

    # --- each job's settings -----------------------------------------------------------------------------------
    def family_section(self, task: str) -> dict[str, Any]:
        return self.config.get(self.family(task), {})

    def task_settings(self, task: str) -> dict[str, Any]:
        """The family section's settings for data preparation and scoring (span search, decoding, offline split)."""
        return {k: v for k, v in self.family_section(task).items() if k not in FAMILY_RUN_KEYS}

    def input_length(self, task: str) -> int:
        """Tokens per model input: the family's `max_length` if set, else data.max_length."""
        return self.family_section(task).get("max_length") or self.config["data"]["max_length"]

    def teacher_params(self, task: str) -> dict[str, Any]:
        """The teacher's training settings for `task` (the seed is a separate rule parameter)."""
        merged = {**self.config["teacher"], **self.family_section(task).get("teacher", {})}
        return {k: v for k, v in merged.items() if k != "seed"}

    def student_params(self, method: str, task: str) -> dict[str, Any]:
        """The method's keys at their defaults, the shared student settings, the family's, the base method's
        section (`method_params.<base>`), and a variant's overrides on top: what its jobs train with.

        These go into the training rule's `params:`, so editing one method's or variant's values reruns its jobs only.
        """
        choice = self.methods[method]
        return {
            **choice.base.defaults(), **self.config["student"], **self.family_section(task).get("student", {}),
            **self.config["method_params"].get(choice.base.name, {}), **choice.overrides,
        }

    def model_name(self, role: str, task: str) -> str:
        """The teacher or student checkpoint for `task`: its own pair under models.by_task, else its family's under
        models.by_family, else the default."""
        models = self.config["models"]
        pair = models.get("by_task", {}).get(task) or models.get("by_family", {}).get(self.family(task))
        return pair[role] if pair else models[role]

    def model_key(self, role: str, task: str) -> str:
        """The config key that names `model_name(role, task)`, for error messages."""
        family = self.family(task)
        if task in self.config["models"].get("by_task", {}):
            return f"models.by_task.{task}.{role}"
        by_family = self.config["models"].get("by_family", {})
        return f"models.by_family.{family}.{role}" if family in by_family else f"models.{role}"

    def task_param(self, task: str) -> dict[str, Any]:
        """What a job needs to rebuild the task's spec: its name and definition (a rerun trigger when edited)."""
        return {"name": task, "definition": self.tasks[task].definition}


def load_study(config: dict[str, Any], config_name: str, config_dir: str | Path) -> Study:
    """Check `config` (defaults filled in place) against config_dir's schema, methods and tasks; return the Study."""
    config_dir = Path(config_dir)
    methods = load_methods(config_dir / "methods.yaml")
    schema = study_schema(config_dir / "schema.yaml", methods)
    validate_config(config, schema, config_name)
    check_results_dir(config["results_dir"], config_name)
    check_uri_credentials(str(config["tracking"].get("uri") or ""), config_name)
    if config["tracking"]["enabled"]:
        check_tracking_uri(config["tracking"]["uri"], config_name)
    variants = check_variants(config, methods, schema, config_name)
    check_evidence_config(config, list(methods), config_name)
    chosen = {}
    for i, name in enumerate(config["methods"]):
        if name in methods:
            chosen[name] = StudyMethod(name, methods[name], {})
        elif name in variants:
            base, overrides = variants[name]
            chosen[name] = StudyMethod(name, methods[base], overrides)
        else:
            raise ConfigError(f"{config_name}: methods[{i}]: {name!r} is neither a method ({', '.join(methods)}) "
                              f"nor a variant defined under `variants`")
    builtins, own = task_definitions(config, config_dir / "tasks.yaml", config_name)
    definition_schema = {"$defs": schema["$defs"], **schema["$defs"]["task_definition"]}
    tasks = {}
    for i, name in enumerate(config["tasks"]):
        if name in own:
            own_file = config["task_definitions"] if isinstance(config.get("task_definitions"), str) else None
            definition = own[name]
            file, prefix = (own_file, name) if own_file else (config_name, f"task_definitions.{name}")
        elif name in builtins:
            definition, file, prefix = builtins[name], str(config_dir / "tasks.yaml"), name
        else:
            known = ", ".join([*builtins, *own])
            raise ConfigError(f"{config_name}: tasks[{i}]: unknown task {name!r}; known: {known}, or define it "
                              "under task_definitions")
        validate_config(definition, definition_schema, file, prefix)
        try:
            tasks[name] = task_from_definition(name, definition, f"{file}: {prefix}")
        except TaskDefinitionError as error:
            raise ConfigError(str(error)) from None
    student_keys = schema["$defs"]["training"]["properties"]
    trained = {name: choice.base.name for name, choice in chosen.items() if not choice.base.is_soup}
    sections = {base: section_schema(methods[base], student_keys) for base in set(trained.values())}
    trial_settings = check_tuning(config, trained, sections, {name: task.family for name, task in tasks.items()},
                                  config_name)
    study = Study(config=config, tasks=tasks, methods=chosen, seeds=list(config["seeds"]),
                  trial_settings=trial_settings)
    for i, reference in enumerate(config["statistics"]["references"]):  # one the study does not run is skipped
        if reference not in methods and reference not in variants:
            raise ConfigError(f"{config_name}: statistics.references[{i}]: {reference!r} is neither a method "
                              f"({', '.join(methods)}) nor a variant defined under `variants`")
    for method, reference in config["statistics"]["matched"].items():
        for name in (method, reference):
            if name not in chosen:
                raise ConfigError(f"{config_name}: statistics.matched.{method}: {name!r} is not a method of this "
                                  f"study ({', '.join(chosen)})")
    for task in config["models"]["by_task"]:
        if task not in tasks:
            raise ConfigError(f"{config_name}: models.by_task.{task}: not a task of this study ({', '.join(tasks)})")
    check_data_parallel(study, config_name)
    check_soups(study, config_name)
    return study


def check_soups(study: Study, config_name: str) -> None:
    """A soup needs its ingredient runs in the study, two seeds or more, a held-out slice for the greedy recipe,
    and row names that no other method takes."""
    names = set(study.methods)
    soups = [(i, name) for i, (name, choice) in enumerate(study.methods.items()) if choice.base.is_soup]
    for i, name in soups:
        ingredients = study.soup_ingredients(name)
        if ingredients not in study.methods or study.methods[ingredients].base.is_soup:
            raise ConfigError(f"{config_name}: methods[{i}]: soup {name!r} mixes the runs of {ingredients!r}, which "
                              "the study does not train; add it to `methods` or set `ingredients` to one of them")
    for i, name in soups:
        where = f"{config_name}: methods[{i}]: soup {name!r}"
        if len(study.seeds) < 2:
            raise ConfigError(f"{where}: a soup mixes runs across seeds; `seeds` lists only {len(study.seeds)}")
        taken = names & {f"{name}_{recipe}" for recipe in SOUP_RECIPES}
        if taken:
            raise ConfigError(f"{where}: its row {sorted(taken)[0]!r} is also the name of a method; rename one")
        greedy = [t for t, n, r in study.soups() if n == name and r == "greedy"]
        if greedy and not study.config["data"]["heldout_size"]:
            raise ConfigError(f"{config_name}: data.heldout_size: the greedy soup {name!r} orders its ingredients on "
                              f"the held-out training rows of {greedy[0]}; set it above 0")
