"""The method registry as the study layer sees it: names, families, teacher needs, and each method's keys.

Read from config/methods.yaml. The code of a method lives in the compute layer (swa_study/methods/) and registers
under the same name; everything the planner needs (which jobs exist, what they take from the teacher, which keys a
config section or a variant may set and their defaults) is here, without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: planning reads YAML
DEFAULT_REGISTRY = Path(__file__).resolve().parents[3] / "config" / "methods.yaml"
KINDS = ("training", "soup")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    summary: str
    families: tuple[str, ...]
    teacher: tuple[str, ...]  # "logits" and/or "model"
    teacher_by_family: dict[str, tuple[str, ...]]
    keys: dict[str, dict[str, Any]]  # key -> JSON schema with `default` and `description` (inherited ones included)
    kind: str = "training"  # "training": a job per (task, seed); "soup": one rule over finished runs of a task

    @property
    def is_soup(self) -> bool:
        return self.kind == "soup"

    def applies_to(self, family: str) -> bool:
        return family in self.families

    def teacher_inputs(self, family: str) -> tuple[str, ...]:
        """What the DAG hands this method from the task's teacher: "logits" (cached once) and/or "model"."""
        return self.teacher_by_family.get(family, self.teacher)

    def defaults(self) -> dict[str, Any]:
        return {key: schema.get("default") for key, schema in self.keys.items()}


def load_methods(path: str | Path = DEFAULT_REGISTRY) -> dict[str, MethodSpec]:
    """Every registered method, in file order; a method's `inherits` adds the keys of the methods it names."""
    raw = yaml.load(Path(path).read_text(), Loader=SAFE_LOADER)
    specs: dict[str, MethodSpec] = {}
    for name, entry in raw.items():
        keys: dict[str, dict[str, Any]] = {}
        for parent in entry.get("inherits", []):
            if parent not in specs:
                raise ValueError(f"{path}: {name}.inherits: {parent!r} must be defined above {name!r}")
            keys.update(specs[parent].keys)
        keys.update(entry.get("keys") or {})
        kind = entry.get("kind", "training")
        if kind not in KINDS:
            raise ValueError(f"{path}: {name}.kind: {kind!r} is not one of {', '.join(KINDS)}")
        specs[name] = MethodSpec(
            name=name, summary=" ".join(str(entry.get("summary", "")).split()),
            families=tuple(entry["families"]), teacher=tuple(entry.get("teacher", ())),
            teacher_by_family={f: tuple(v) for f, v in (entry.get("teacher_by_family") or {}).items()},
            keys=keys, kind=kind,
        )
    return specs


def method_defaults(name: str, path: str | Path = DEFAULT_REGISTRY) -> dict[str, Any]:
    """The defaults of one method's keys (for code that builds a method outside a study, e.g. tests)."""
    return load_methods(path)[name].defaults()
