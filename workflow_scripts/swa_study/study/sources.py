"""Where each split of a task comes from, checked as far as is cheap before any job starts.

The planner calls `describe_source` for every task of a study: local files must exist, be non-empty and (for
csv/tsv/jsonl) name the columns the definition uses in their first line, or the Hub must be reachable (not
HF_HUB_OFFLINE). Row-level checks (labels, missing fields, encoding) need the whole file and run in prepare_data,
the first job, still before any training. Light: the standard library only.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .assets import AssetError, hub_offline
from .tasks import LocalFiles, TaskSpec


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
    if task.hub is None or hub_offline():
        where = f"no local copy under {mirror}" if mirror else "no mirror configured"
        raise AssetError(f"task {task.name!r}: {where} and HF_HUB_OFFLINE is set, so the Hub cannot be used")
    name = task.hub.path + (f"/{task.hub.config}" if task.hub.config else "")
    return {split: f"hub:{name}[{hub_split}]" for split, hub_split in task.hub.splits.items()
            if split in task.splits()}
