"""What a task is: a definition read from YAML (config/tasks.yaml ships the built-ins; a study may add its own).

A definition names the task family, where the data lives (local files and/or a Hub dataset), which columns hold
the text and the label, the label space and the metrics. `task_from_definition` turns one into a `TaskSpec`, after
the checks that a schema cannot express (a metric the family has no module for, a main metric not computed, a label
map outside the classes), each a one-line error naming the file and key.

Every loader turns the raw files into the same canonical columns (`text_a`, `text_b`, `label`), so nothing past
data loading looks at a dataset's own column names. This module is part of the light study layer: it imports
no deep-learning library, so planning a study stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: planning reads YAML
FAMILIES = ("classification", "qa", "generation")

# The metrics the project computes (swa_study/metrics.py, qa/, generation/), by the family they score.
FAMILY_METRICS = {
    "classification": ("accuracy", "f1", "matthews_correlation", "pearsonr", "spearmanr"),
    "qa": ("exact_match", "f1"),
    "generation": ("rouge1", "rouge2", "rougeL", "bleu"),
}
REGRESSION_METRICS = ("pearsonr", "spearmanr")
TABLE_FORMATS = ("csv", "tsv", "json", "jsonl")  # generic files: one row per example
FAMILY_FORMATS = {"classification": TABLE_FORMATS, "qa": ("squad",), "generation": ("commongen", *TABLE_FORMATS)}
SPLITS = ("train", "validation", "test")


class TaskDefinitionError(ValueError):
    """A task definition is unusable; the message is `<file>: <key path>: <problem>`."""


@dataclass(frozen=True)
class Columns:
    """The dataset's own column names for the canonical text_a / text_b / label."""

    text_a: str
    text_b: str | None
    label: str


@dataclass(frozen=True)
class LocalFiles:
    """Files of a task: `folder` relative to the mirror root (or absolute), one file per split."""

    folder: str
    files: dict[str, str]
    format: str  # csv | tsv | json | jsonl | squad | commongen
    columns: Columns
    header: bool = True  # csv/tsv: the first line names the columns (else `column_names` does)
    column_names: tuple[str, ...] | None = None  # csv/tsv without a header; extra fields on a row are ignored
    quoting: str = "csv"  # csv: fields may be "quoted"; none: quote characters are text (GLUE's tsv files)

    def path(self, split: str, mirror: Path | None) -> Path:
        folder = Path(self.folder).expanduser()
        if not folder.is_absolute():
            folder = (mirror if mirror is not None else Path.cwd()) / folder
        return folder / self.files[split]


@dataclass(frozen=True)
class HubSource:
    path: str
    config: str | None
    splits: dict[str, str]  # our split name -> the Hub dataset's split name
    columns: Columns


@dataclass(frozen=True)
class TaskSpec:
    name: str
    family: str
    num_labels: int  # 1 means regression; 2 for QA (start, end); 0 for generation (the vocabulary)
    metrics: tuple[str, ...]
    main_metric: str  # the one number per task in the summary table
    hub: HubSource | None = None
    local: LocalFiles | None = None
    label_map: dict[str, int] | None = None  # file values (as text) -> class ids
    labelled_test: bool = False  # evaluate on the test split too (its labels are public)
    # Regression targets are divided by this for training and predictions multiplied back for scoring: a head
    # starting near 0 reaches 0..1 targets in a few steps, but 0..5 ones (STS-B) take most of a short budget.
    label_scale: float = 1.0
    version_2: bool = False  # SQuAD v2: unanswerable questions, scored with the no-answer split
    definition: dict[str, Any] = field(default_factory=dict, compare=False)  # as written, for jobs' params

    @property
    def is_regression(self) -> bool:
        return self.family == "classification" and self.num_labels == 1

    def splits(self) -> tuple[str, ...]:
        """The splits a study reads: train and validation, and test when its labels are public."""
        return ("train", "validation", "test") if self.labelled_test else ("train", "validation")


def _columns(defaults: dict[str, Any], overrides: dict[str, Any] | None) -> Columns:
    merged = {"text_b": None, **defaults, **(overrides or {})}
    return Columns(text_a=merged["text_a"], text_b=merged["text_b"], label=merged["label"])


def _format_of(files: dict[str, str]) -> str:
    suffix = Path(next(iter(files.values()))).suffix.lstrip(".").lower()
    return suffix if suffix in TABLE_FORMATS else "csv"


def task_from_definition(name: str, definition: dict[str, Any], where: str) -> TaskSpec:
    """A `TaskSpec` from a schema-valid definition; `where` ("config.yaml: task_definitions.mine") prefixes errors."""
    def fail(key: str, problem: str) -> TaskDefinitionError:
        return TaskDefinitionError(f"{where}.{key}: {problem}")

    family = definition["family"]
    if family not in FAMILIES:
        raise fail("family", f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    num_labels = {"qa": 2, "generation": 0}.get(family, definition.get("num_labels"))
    if family == "classification" and not isinstance(num_labels, int):
        raise fail("num_labels", "a classification task needs num_labels (1 = regression, 2 or more = classes)")
    metrics = tuple(definition["metrics"])
    for i, metric in enumerate(metrics):
        if metric not in FAMILY_METRICS[family]:
            raise fail(f"metrics[{i}]", f"unknown metric {metric!r} for a {family} task; known: "
                                        f"{', '.join(FAMILY_METRICS[family])}")
        if family == "classification" and (metric in REGRESSION_METRICS) != (num_labels == 1):
            kind = "scores (num_labels 1)" if metric in REGRESSION_METRICS else "classes (num_labels >= 2)"
            raise fail(f"metrics[{i}]", f"metric {metric!r} needs {kind}; this task has num_labels {num_labels}")
        if metric == "f1" and family == "classification" and num_labels > 2:
            raise fail(f"metrics[{i}]", f"'f1' is binary F1 (class 1 positive) and this task has {num_labels} "
                                        "classes; use accuracy or matthews_correlation")
    if definition["main_metric"] not in metrics:
        raise fail("main_metric", f"{definition['main_metric']!r} is not one of the task's metrics {list(metrics)}")
    label_map = definition.get("label_map")
    if label_map is not None:
        label_map = {str(key): value for key, value in label_map.items()}
        bad = [key for key, value in label_map.items() if not 0 <= value < (num_labels or 0)]
        if bad:
            raise fail(f"label_map.{bad[0]}", f"class id {label_map[bad[0]]} outside 0..{num_labels - 1}")
        names_of: dict[int, str] = {}
        for key, value in label_map.items():
            if value in names_of:
                raise fail(f"label_map.{key}", f"class {value} is already {names_of[value]!r}: two names for one "
                                               "class would merge them silently")
            names_of[value] = key
    columns = definition.get("columns", {})
    local = definition.get("local")
    hub = definition.get("hub")
    if local is None and hub is None:
        raise fail("local", "a task needs local files, a hub dataset, or both")
    if (local or hub) and not {"text_a", "label"} <= {**columns, **(local or {}).get("columns", {})}.keys():
        raise fail("columns", "text_a and label must be named (in columns, or in local.columns / hub.columns)")
    spec_local = spec_hub = None
    if local is not None:
        fmt = local.get("format") or _format_of(local["files"])
        if fmt not in FAMILY_FORMATS[family]:
            raise fail("local.format", f"{fmt!r} is not a format for {family} tasks; known: "
                                       f"{', '.join(FAMILY_FORMATS[family])}")
        for split in ("train", "validation"):
            if split not in local["files"]:
                raise fail("local.files", f"no {split!r} file")
        if fmt in ("csv", "tsv") and not local.get("header", True) and not local.get("column_names"):
            raise fail("local.column_names", "a file without a header row needs column_names")
        spec_local = LocalFiles(
            folder=str(local.get("folder", "")), files=dict(local["files"]), format=fmt,
            columns=_columns(columns, local.get("columns")), header=bool(local.get("header", True)),
            column_names=tuple(local["column_names"]) if local.get("column_names") else None,
            quoting=local.get("quoting") or ("none" if fmt == "tsv" else "csv"),
        )
    if hub is not None:
        spec_hub = HubSource(path=hub["path"], config=hub.get("config"), splits=dict(hub["splits"]),
                             columns=_columns(columns, hub.get("columns")))
    if definition.get("labelled_test") and spec_local is not None and "test" not in spec_local.files:
        raise fail("local.files", "labelled_test is true but no 'test' file is given")
    return TaskSpec(
        name=name, family=family, num_labels=num_labels, metrics=metrics, main_metric=definition["main_metric"],
        hub=spec_hub, local=spec_local, label_map=label_map, labelled_test=bool(definition.get("labelled_test")),
        label_scale=float(definition.get("label_scale", 1.0)), version_2=bool(definition.get("version_2")),
        definition=definition,
    )


def read_definitions(path: str | Path) -> dict[str, dict[str, Any]]:
    """The task definitions of a YAML file ({name: definition}); one-line errors for unreadable files."""
    path = Path(path)
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise TaskDefinitionError(f"{path}: task definition file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise TaskDefinitionError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise TaskDefinitionError(f"{path}: expected a mapping of task names to definitions")
    return loaded


def builtin_task(name: str, definitions_file: str | Path | None = None) -> TaskSpec:
    """A built-in task by name (config/tasks.yaml of this repository unless another file is given)."""
    path = Path(definitions_file) if definitions_file else Path(__file__).resolve().parents[3] / "config" / "tasks.yaml"
    definitions = read_definitions(path)
    if name not in definitions:
        raise KeyError(f"unknown task {name!r}; built-in tasks: {', '.join(sorted(definitions))}")
    return task_from_definition(name, definitions[name], f"{path.name}: {name}")


def task_from_param(param: dict[str, Any]) -> TaskSpec:
    """The spec a job rebuilds from its `task` rule parameter ({"name", "definition"}, see plan.Study.task_param)."""
    return task_from_definition(param["name"], param["definition"], f"task {param['name']}")
