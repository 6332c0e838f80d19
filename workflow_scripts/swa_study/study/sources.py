"""Where each split of a task comes from, checked as far as is cheap before any job starts.

The planner calls `describe_source` for every task of a study: local files must exist, be non-empty and (for
csv/tsv/jsonl) name the columns the definition uses in their first line, or the Hub must be reachable (not
HF_HUB_OFFLINE), or a `hub.path` that is a local folder in the Hub's layout (parquet/csv/json files, a dataset card
whose `configs:` name the config and splits) must have them. Row-level checks (labels, missing fields, encoding)
need the whole file and run in prepare_data, the first job, still before any training. Light: the standard library
and PyYAML only.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .assets import AssetError, hub_offline
from .tasks import HubSource, LocalFiles, TaskSpec

DATA_FILE_SUFFIXES = (".parquet", ".csv", ".json", ".jsonl", ".arrow", ".txt")


def delimiter(local: LocalFiles) -> str:
    return "\t" if local.format == "tsv" else ","


def header_columns(path: Path, local: LocalFiles) -> list[str] | None:
    """The column names a csv/tsv/jsonl file offers (from its header, its first record, or `column_names`)."""
    if local.column_names:
        return list(local.column_names)
    if local.format not in ("csv", "tsv", "jsonl"):
        return None
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            first = handle.readline()
        except UnicodeDecodeError as error:
            raise AssetError(f"{path}: not valid UTF-8 text (byte {error.start} of the first line)") from None
    if local.format == "jsonl":
        try:
            record = json.loads(first)
        except json.JSONDecodeError as error:
            raise AssetError(f"{path}: line 1 is not a JSON object ({error.msg})") from None
        return list(record) if isinstance(record, dict) else []
    quoting = csv.QUOTE_NONE if local.quoting == "none" else csv.QUOTE_MINIMAL
    return next(csv.reader(io.StringIO(first), delimiter=delimiter(local), quoting=quoting), [])


def check_columns(path: Path, local: LocalFiles, task_name: str) -> None:
    offered = header_columns(path, local)
    if offered is None:
        return
    for role in ("text_a", "text_b", "label"):
        column = getattr(local.columns, role)
        if column is not None and column not in offered:
            raise AssetError(f"{path}: column {column!r} ({role} of task {task_name!r}) not found; the file has "
                             f"{', '.join(map(repr, offered)) or 'no columns'}")


def describe_source(task: TaskSpec, mirror: Path | None) -> dict[str, str]:
    """{split: local file path, or "hub:<dataset>[<split>]"}; local files checked (exist, non-empty, columns).

    Local files are used when a mirror is configured, when their folder is absolute, or when the task has no Hub
    source (a folder relative to the working directory); otherwise the Hub.
    """
    local_paths = ({split: task.local.path(split, mirror) for split in task.splits() if split in task.local.files}
                   if task.local is not None else {})
    use_local = task.local is not None and (task.hub is None or mirror is not None
                                            or Path(task.local.folder).expanduser().is_absolute())
    if use_local:
        for split, path in local_paths.items():
            if not path.is_file():
                raise AssetError(f"{path}: {split} file of task {task.name!r} is missing")
            if path.stat().st_size == 0:
                raise AssetError(f"{path}: {split} file of task {task.name!r} is empty")
            check_columns(path, task.local, task.name)
        return {split: str(path) for split, path in local_paths.items()}
    hub_folder = task.hub is not None and Path(task.hub.path).expanduser().is_dir()
    if hub_folder:  # the Hub's layout on disk: loads offline through the same call
        check_hub_folder(Path(task.hub.path).expanduser(), task.hub, task.name)
    elif task.hub is None or hub_offline():
        where = f"no local copy under {mirror}" if mirror else "no mirror configured"
        raise AssetError(f"task {task.name!r}: {where} and HF_HUB_OFFLINE is set, so the Hub cannot be used")
    name = task.hub.path + (f"/{task.hub.config}" if task.hub.config else "")
    return {split: f"hub:{name}[{hub_split}]" for split, hub_split in task.hub.splits.items()
            if split in task.splits()}


def card_configs(card: Path) -> list[dict] | None:
    """The `configs:` of a dataset card's YAML header (README.md), or None when the card declares none."""
    import yaml

    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return None
    header = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    try:
        configs = (yaml.safe_load(header) or {}).get("configs")
    except yaml.YAMLError as error:
        raise AssetError(f"{card}: the dataset card's YAML header does not parse ({error})") from None
    return configs if isinstance(configs, list) else None


def _config_splits(data_files) -> set[str]:
    if isinstance(data_files, (str, list)) and not (isinstance(data_files, list) and data_files
                                                    and isinstance(data_files[0], dict)):
        return {"train"}  # one file pattern: datasets calls it train
    if isinstance(data_files, dict):
        return set(data_files)
    return {entry.get("split", "train") for entry in data_files or []}


def check_hub_folder(folder: Path, hub: HubSource, task_name: str) -> None:
    """A local folder in the Hub's own layout, loaded by `datasets.load_dataset(folder, config)` as online users
    load a Hub id: its card must offer `hub.config` and every split `hub.splits` names; without a card, data files
    must be there (datasets then infers the splits from their names)."""
    card = folder / "README.md"
    configs = card_configs(card)
    if configs is None:
        if not any(path.suffix in DATA_FILE_SUFFIXES for path in folder.rglob("*") if path.is_file()):
            raise AssetError(f"{folder}: hub.path of task {task_name!r} is a folder with no data files and no "
                             "dataset card (README.md with configs:)")
        return
    names = [entry.get("config_name", "default") for entry in configs]
    wanted = hub.config or "default"
    if wanted not in names:
        raise AssetError(f"{card}: no config {wanted!r} (hub.config of task {task_name!r}); its configs: "
                         f"{', '.join(names)}")
    offered = _config_splits(configs[names.index(wanted)].get("data_files"))
    for split, hub_split in hub.splits.items():
        if hub_split.split("[")[0] not in offered:
            raise AssetError(f"{card}: config {wanted!r} has no split {hub_split.split('[')[0]!r} (hub.splits.{split} "
                             f"of task {task_name!r}); it has {', '.join(sorted(offered))}")


def hub_reference(task: TaskSpec, split: str) -> dict[str, str | None]:
    """What `datasets.load_dataset` was given for one split: MLflow's Hugging Face dataset source records it."""
    return {"path": task.hub.path, "config_name": task.hub.config, "split": task.hub.splits[split]}
