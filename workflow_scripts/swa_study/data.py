"""Load a classification task's splits (local files or Hub), check them, hold out training rows, tokenise them.

Everything that can be wrong with the data is found here, in the first job, before any training: a missing file,
a ragged row, text that is not UTF-8, a label outside the task's label space, a score that is not a number. Each
problem is one line that names the file, the row and the column.
"""
from __future__ import annotations

import hashlib
import math
import zipfile
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from .local_files import DataError, read_rows
from .study.sources import describe_source
from .study.tasks import TaskSpec
from .steps import warn
from .text_inputs import encode_texts, warn_if_truncated

__all__ = ["DataError", "attach_teacher_logits", "count_overlap", "count_truncated", "load_task_splits", "load_prepared", "split_training_rows",
           "subsample", "token_digest", "tokenize"]


def _label(task: TaskSpec, value: Any, where: str, column: str) -> int | float:
    """The class id or score of one row; one line naming the row, the column and the value when it is not one."""
    if task.is_regression:
        try:
            score = float(value)
        except (TypeError, ValueError):
            score = math.nan
        if math.isnan(score) or math.isinf(score):
            raise DataError(f"{where}: column {column!r} has {value!r}, not a number (task {task.name!r} is a "
                            "regression task)")
        return score
    if task.label_map is not None:
        if str(value) not in task.label_map:
            raise DataError(f"{where}: column {column!r} has {value!r}, not one of the task's labels "
                            f"{sorted(task.label_map)}")
        return task.label_map[str(value)]
    try:
        label = int(str(value).strip())
    except ValueError:
        try:  # 0.0 / 1.0, as spreadsheets and pandas write integer labels
            number = float(str(value).strip())
            label = int(number) if number.is_integer() else None
        except ValueError:
            label = None
    if label is None or not 0 <= label < task.num_labels:
        raise DataError(f"{where}: column {column!r} has {value!r} outside 0..{task.num_labels - 1} "
                        f"(task {task.name!r} declares {task.num_labels} classes; a label_map maps names to ids)")
    return label


def _read_local(task: TaskSpec, path: str) -> datasets.Dataset:
    rows = read_rows(path, task.local)
    where = "record" if task.local.format == "json" else "line"
    labels = [_label(task, row["label"], f"{path}: {where} {row['line']}", task.local.columns.label) for row in rows]
    return datasets.Dataset.from_dict({
        "idx": list(range(len(rows))),
        "text_a": [row["text_a"] for row in rows],
        "text_b": [row["text_b"] for row in rows],
        "label": labels,
    })


def _read_hub(task: TaskSpec, split: str) -> datasets.Dataset:
    hub = task.hub
    raw = datasets.load_dataset(hub.path, hub.config, split=hub.splits[split])
    columns = hub.columns
    for column in (columns.text_a, columns.text_b, columns.label):
        if column is not None and column not in raw.column_names:
            raise DataError(f"hub:{hub.path}[{hub.splits[split]}]: column {column!r} not found "
                            f"(columns: {', '.join(raw.column_names)})")
    where = f"hub:{hub.path}[{hub.splits[split]}]"
    return datasets.Dataset.from_dict({
        "idx": list(range(len(raw))),
        "text_a": raw[columns.text_a],
        "text_b": raw[columns.text_b] if columns.text_b else [None] * len(raw),
        "label": [_label(task, value, f"{where} row {i}", columns.label) for i, value in enumerate(raw[columns.label])],
    })


def load_task_splits(task: TaskSpec, mirror: Path | None) -> tuple[datasets.DatasetDict, dict[str, str]]:
    """The checked splits of `task` in canonical columns (idx, text_a, text_b, label), and where each came from."""
    sources = describe_source(task, mirror)  # raises on missing or empty files, missing columns
    splits = {}
    for name, source in sources.items():
        splits[name] = _read_hub(task, name) if source.startswith("hub:") else _read_local(task, source)
        if len(splits[name]) == 0:
            raise DataError(f"{source}: split is empty")
    return datasets.DatasetDict(splits), sources


def split_training_rows(split: datasets.Dataset, train_size: int | None, heldout_size: int,
                        seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(training rows, held-out rows): both drawn from one seeded shuffle, disjoint.

    With `train_size`, training takes the first `train_size` rows of the shuffle and the held-out slice the next
    `heldout_size`; without it, the held-out slice takes the first `heldout_size` and training keeps every other row
    in file order. So the training rows of a given train_size do not depend on heldout_size.
    """
    shuffled = split.shuffle(seed=seed)
    if train_size is not None and train_size < len(split):
        available = len(split) - train_size
        if heldout_size > available:
            raise DataError(f"data.heldout_size {heldout_size} exceeds the {available} training rows that "
                            f"data.train_size {train_size} leaves over")
        return (shuffled.select(range(train_size)),
                shuffled.select(range(train_size, train_size + heldout_size)))
    if heldout_size >= len(split):
        raise DataError(f"data.heldout_size {heldout_size} leaves none of the {len(split)} training rows to train on")
    heldout = shuffled.select(range(heldout_size))
    held = set(heldout["idx"])
    return split.filter(lambda row: row["idx"] not in held), heldout


def subsample(split: datasets.Dataset, size: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset of `size` rows (all rows when `size` is None or larger than the split)."""
    if size is None or size >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(size))


def _texts(batch: dict) -> tuple[list[str], list[str] | None]:
    return batch["text_a"], batch["text_b"] if any(text is not None for text in batch["text_b"]) else None


def tokenize(split: datasets.Dataset, tokenizer, task: TaskSpec, max_length: int) -> datasets.Dataset:
    """Token ids without padding (the collator pads per batch); keeps `idx` and a float or int `label`.

    Regression labels are stored divided by `task.label_scale` (the training target); evaluation scales back.
    Pairs go through text_inputs, which gives decoders a separator.
    """
    def encode(batch: dict) -> dict:
        encoded = encode_texts(tokenizer, *_texts(batch), max_length)
        if task.is_regression:
            encoded["label"] = [value / task.label_scale for value in batch["label"]]
        return encoded

    encoded = split.map(encode, batched=True, remove_columns=["text_a", "text_b"])
    label_type = datasets.Value("float32") if task.is_regression else datasets.Value("int64")
    return encoded.cast_column("label", label_type)


def count_overlap(train: datasets.Dataset, split: datasets.Dataset, task: TaskSpec, split_name: str) -> int:
    """How many rows of an evaluation split also appear in training (same text); a warning names the count, since
    a score on them measures memory, not generalisation."""
    seen = set(zip(train["text_a"], train["text_b"]))
    shared = sum(pair in seen for pair in zip(split["text_a"], split["text_b"]))
    if shared:
        warn(f"warning: task {task.name!r}: {shared} of {len(split)} {split_name} rows also appear in the training "
             "rows (same text); their scores measure memory, not generalisation")
    return shared


def count_truncated(split: datasets.Dataset, tokenizer, task: TaskSpec, max_length: int, split_name: str) -> int:
    """How many rows `max_length` cuts; a warning names the task when that is more than a few per cent of them."""
    lengths = [len(ids) for ids in encode_texts(tokenizer, *_texts(split[:]), None)["input_ids"]]
    return warn_if_truncated(task.name, split_name, lengths, max_length)


def load_prepared(folder: str | Path) -> dict[str, datasets.Dataset]:
    """The tokenised splits written by the prepare_data step, keyed by split name."""
    folder = Path(folder)
    return {path.name: datasets.load_from_disk(str(path)) for path in sorted(folder.iterdir()) if path.is_dir()}


def attach_teacher_logits(train: datasets.Dataset, logits_path: str | Path, same_tokens: bool) -> datasets.Dataset:
    """Add the cached teacher logits as a column, after checking they belong to exactly these rows.

    With `same_tokens` (QA: one logit per token position) the teacher's windows must also hold the same token ids.
    """
    try:
        with np.load(logits_path) as cached:
            idx, logits, digest = cached["idx"], cached["logits"], str(cached["token_digest"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{logits_path}: unreadable cached teacher logits ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else 'truncated'}); rerun the teacher_logits "
                        "rule (snakemake -R teacher_logits)") from None
    if not np.array_equal(idx, np.asarray(train["idx"])) or len(logits) != len(train):
        raise DataError(f"{logits_path}: teacher logits are for other training rows than the student's data")
    if same_tokens and digest != token_digest(train):
        raise DataError(f"{logits_path}: the teacher tokenised the training windows differently from the student; "
                        "start/end logits need teacher and student to share one tokenizer and window length")
    return train.add_column("teacher_logits", [row.tolist() for row in logits])


def token_digest(split: datasets.Dataset) -> str:
    """A fingerprint of a split's token ids, to check that cached teacher outputs belong to the same inputs.

    QA needs it: start/end logits are per token position, so they only transfer between identical windows.
    """
    digest = hashlib.sha256()
    for ids in split["input_ids"]:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
    return digest.hexdigest()
