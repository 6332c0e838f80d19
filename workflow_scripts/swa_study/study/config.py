"""Load and check a study config: the JSON schema first, then what a schema cannot say, each as one line.

The schema (config/schema.yaml) is completed here from the method registry: every method's section under
`method_params` and every variant take exactly that method's keys plus the `student` keys, with their defaults.
Snakemake's own `validate` would report a bare jsonschema message; these checks name the config file and the key,
so a typo costs one line to read, not a traceback. Defaults are filled in place, as Snakemake's validate does.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from .methods import MethodSpec
from .tasks import SAFE_LOADER, TaskDefinitionError, read_definitions

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # task and method names become folder names and wildcards


class ConfigError(ValueError):
    """The config does not describe a valid study; the message is `<file>: <key path>: <problem>`."""


class _StrictLoader(SAFE_LOADER):
    """YAML that refuses a key given twice in one mapping (PyYAML would silently keep the last one)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {key_node.start_mark.line + 1})", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config file as a dict; a missing file, bad YAML or a duplicate key is one line naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file ({error})") from None
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: {where}not valid YAML ({problem})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return loaded


def overlay(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` over `base` as Snakemake merges a `--configfile` over the Snakefile's `configfile:`: mappings merge
    key by key, at every depth; any other value (a list, a number) replaces the base's. A copy; neither is changed."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = overlay(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def section_schema(spec: MethodSpec, student_keys: dict[str, Any]) -> dict[str, Any]:
    """The keys one method's config section (or a variant of it) may set: its own, plus any `student` key."""
    properties = {key: {k: v for k, v in schema.items() if k != "default"} for key, schema in student_keys.items()}
    properties.update(spec.keys)
    return {"type": "object", "additionalProperties": False, "default": {}, "properties": properties,
            "description": spec.summary}


def study_schema(schema_path: str | Path, methods: dict[str, MethodSpec]) -> dict[str, Any]:
    """config/schema.yaml with `method_params` filled in from the method registry."""
    schema = yaml.load(Path(schema_path).read_text(), Loader=SAFE_LOADER)
    student_keys = schema["$defs"]["training"]["properties"]
    schema["properties"]["method_params"]["properties"] = {
        name: section_schema(spec, student_keys) for name, spec in methods.items()
    }
    return schema


def _with_defaults(validator_class):
    """A validator that also fills each property's `default` (the jsonschema FAQ recipe Snakemake uses)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def schema_error(schema: dict[str, Any], instance: Any, where: str, prefix: str = "") -> ConfigError | None:
    error = best_match(Draft202012Validator(schema).iter_errors(instance))
    if error is None:
        return None
    path = error.json_path.removeprefix("$").removeprefix(".")
    key = ".".join(part for part in (prefix, path) if part) or "(top level)"
    return ConfigError(f"{where}: {key}: {error.message}")


def validate_config(config: dict[str, Any], schema: dict[str, Any], config_name: str, prefix: str = "") -> None:
    """Check `config` against `schema` and fill its defaults in place; ConfigError names the first problem
    (`<config_name>: <prefix>.<key path>: ...`)."""
    error = schema_error(schema, config, config_name, prefix)
    if error is not None:
        raise error
    _with_defaults(Draft202012Validator)(schema).validate(config)


def check_variants(config: dict[str, Any], methods: dict[str, MethodSpec], schema: dict[str, Any],
                   config_name: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """{variant name: (base method, overrides)}; an unknown base, a key the base lacks or a bad name is an error."""
    student_keys = schema["$defs"]["training"]["properties"]
    variants = {}
    for name, entry in (config.get("variants") or {}).items():
        where = f"{config_name}: variants.{name}"
        if name in methods:
            raise ConfigError(f"{where}: a variant cannot take the name of the built-in method {name!r}")
        if not NAME.match(str(name)):
            raise ConfigError(f"{where}: the name must be letters, digits and _ . + - (it names folders and runs)")
        if not isinstance(entry, dict) or "method" not in entry:
            raise ConfigError(f"{where}: give the base method, e.g. {{method: swa, swa_lr: 1.0e-4}}")
        base = entry["method"]
        if base not in methods:
            raise ConfigError(f"{where}.method: unknown base method {base!r}; known: {', '.join(methods)}")
        overrides = {k: v for k, v in entry.items() if k != "method"}
        allowed = {**methods[base].keys, **student_keys}
        for key in overrides:
            if key not in allowed:
                raise ConfigError(f"{where}.{key}: method {base!r} has no key {key!r} (its keys: "
                                  f"{', '.join(methods[base].keys) or 'none'}; or any student key)")
        error = schema_error(section_schema(methods[base], student_keys), overrides, config_name, f"variants.{name}")
        if error is not None:
            raise error
        variants[name] = (base, overrides)
    return variants


def task_definitions(config: dict[str, Any], builtin_file: Path, config_name: str) -> tuple[dict, dict]:
    """(built-in definitions, the study's own definitions) as {name: definition}; own ones may come from a file."""
    builtins = read_definitions(builtin_file)
    own = config.get("task_definitions") or {}
    where = f"{config_name}: task_definitions"
    if isinstance(own, str):
        try:
            own = read_definitions(own)
        except TaskDefinitionError as error:
            raise ConfigError(f"{where}: {error}") from None
        where = own_file = str(Path(config["task_definitions"]))
    else:
        own_file = None
    for name in own:
        prefix = f"{own_file}: {name}" if own_file else f"{where}.{name}"
        if name in builtins:
            raise ConfigError(f"{prefix}: {name!r} is a built-in task; give your definition another name")
        if not NAME.match(str(name)):
            raise ConfigError(f"{prefix}: the name must be letters, digits and _ . + - (it names folders and runs)")
    return builtins, own


TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def check_tracking_uri(uri: str, config_name: str) -> None:
    """The form of tracking.uri, checked at start-up (whether a server answers is checked when first used)."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme not in TRACKING_SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ConfigError(f"{config_name}: tracking.uri: {uri!r} has {shown}; use sqlite:///mlflow.db, "
                          "http(s)://host:port of a tracking server, or a database URI (postgresql://...); "
                          "MLflow 3 no longer reads a plain folder (./mlruns)")
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        raise ConfigError(f"{config_name}: tracking.uri: {uri!r}: an SQLite URI is sqlite:///<path of the file>")


def check_uri_credentials(uri: str, config_name: str) -> None:
    """A password in tracking.uri would be written in plain text into results/, the job logs and Snakemake's
    metadata (the URI is a rule parameter): refuse it, and say where MLflow and the databases read one instead."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return
    if parts.password is not None or (parts.username and parts.scheme.startswith("http")):
        raise ConfigError(f"{config_name}: tracking.uri: holds credentials ({parts.username}:***@); remove them and "
                          "set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (a tracking server) or PGPASSWORD "
                          "or ~/.pgpass (PostgreSQL), which are never written into results/ or the logs")


def check_results_dir(results_dir: str, config_name: str) -> None:
    """results_dir must name a folder that can be created and written (without creating anything yet)."""
    text = str(results_dir).strip()
    if not text or text.strip("/") == "":
        raise ConfigError(f"{config_name}: results_dir: {results_dir!r} does not name a folder of its own")
    if "{" in text or "}" in text:
        raise ConfigError(f"{config_name}: results_dir: {text!r} holds a brace, which Snakemake would read as a "
                          "wildcard in every path; choose a folder name without {{ or }}")
    path = Path(text).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{config_name}: results_dir: {text!r} cannot be a folder: {str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{config_name}: results_dir: {str(existing)!r} is not writable")
