"""Read a task's local csv/tsv/json/jsonl file into canonical rows, refusing anything malformed with one line.

pandas is lenient in the wrong places for a benchmark (a short row becomes empty strings, a row with one field too
many silently turns its first field into the index), so this reads with the standard library and checks every row:
missing or extra fields, missing keys, text that is not UTF-8. Each error names the file, the line (or record) and
the column. Labels are returned as written; data.py checks them against the task's label space.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

from .study.tasks import LocalFiles


class DataError(ValueError):
    """The task's data is unusable; the message names the file (or Hub split), the row and the column."""


def _csv_records(path: Path, local: LocalFiles) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: field}) per data row; ragged rows are errors (extra fields allowed without a header)."""
    delimiter = "\t" if local.format == "tsv" else ","
    quoting = csv.QUOTE_NONE if local.quoting == "none" else csv.QUOTE_MINIMAL
    with open(path, encoding="utf-8-sig", newline="") as handle:  # utf-8-sig: a leading BOM is not text
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=local.quoting != "none")
        try:
            names = list(local.column_names) if local.column_names else next(reader, None)
        except csv.Error as error:
            raise DataError(f"{path}: line 1: malformed {local.format} header ({error})") from None
        if names is None:
            raise DataError(f"{path}: file is empty")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise DataError(f"{path}: line 1: the header names column {twice[0]!r} twice; rename one, or the "
                            "second would silently replace the first")
        while True:
            start = reader.line_num + 1  # where the next row begins (a quoted field may span lines)
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # an unclosed quote, a field past csv's size limit: say where the row starts
                hint = ("; an unclosed quote runs to the end of the file" if "end of data" in str(error) else "")
                raise DataError(f"{path}: line {start}: malformed {local.format} ({error}){hint}") from None
            line = reader.line_num
            if not fields:  # a blank line
                continue
            if len(fields) < len(names):
                raise DataError(f"{path}: line {line}: {len(fields)} fields, expected {len(names)} "
                                f"({', '.join(names)}); the field for {names[len(fields)]!r} is missing")
            if len(fields) > len(names) and not local.column_names:
                raise DataError(f"{path}: line {line}: {len(fields)} fields, but the header names {len(names)} "
                                f"({', '.join(names)})")
            yield line, dict(zip(names, fields))


def _json_records(path: Path, local: LocalFiles) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or record number, record) of a jsonl file (one object per line) or a json array of objects."""
    with open(path, encoding="utf-8-sig") as handle:
        if local.format == "jsonl":
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}: line {line}: not a JSON object ({error.msg})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: line {line}: not a JSON object")
                yield line, record
            return
        try:
            records = json.load(handle)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"{path}: expected a JSON array of objects, one per example")
    yield from enumerate(records, start=1)


def read_rows(path: str | Path, local: LocalFiles) -> list[dict[str, Any]]:
    """Every row of a local file as {"text_a", "text_b", "label"} (the definition's columns), checked."""
    path = Path(path)
    where = "record" if local.format == "json" else "line"
    records = _json_records(path, local) if local.format in ("json", "jsonl") else _csv_records(path, local)
    wanted = {role: getattr(local.columns, role) for role in ("text_a", "text_b", "label")}
    rows = []
    try:
        for number, record in records:
            row = {}
            for role, column in wanted.items():
                if column is None:
                    row[role] = None
                    continue
                if column not in record:
                    raise DataError(f"{path}: {where} {number}: column {column!r} ({role}) is missing; the row has "
                                    f"{', '.join(map(repr, record))}")
                if record[column] is None:
                    raise DataError(f"{path}: {where} {number}: column {column!r} ({role}) is null")
                row[role] = record[column] if role == "label" else str(record[column])
            row["line"] = number
            rows.append(row)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not valid UTF-8 text (byte {error.start} of a line cannot be decoded)") from None
    except csv.Error as error:
        raise DataError(f"{path}: malformed {local.format} ({error})") from None
    if not rows:
        raise DataError(f"{path}: no data rows (only a header, or blank lines)")
    return rows
