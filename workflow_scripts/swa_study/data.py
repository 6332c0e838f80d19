"""Load a task's splits (offline mirror or Hub), check them, sub-sample them and tokenise them.

Everything that can be wrong with the data is found here, before any training: a missing file, an empty split,
a label outside the task's declared label space. Each problem is one line that names the file and the column.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import datasets
import numpy as np

from .assets import AssetError, hub_offline
from .tasks import TaskSpec

CANONICAL_COLUMNS = ("idx", "text_a", "text_b", "label")


class DataError(ValueError):
    """The task's data is unusable; the message names the file (or Hub split) and the column."""


def describe_source(task: TaskSpec, mirror: Path | None) -> dict[str, str]:
    """Where each split of `task` comes from: a local file path or a Hub address. Checks that local files exist."""
    if mirror is not None and task.local is not None:
        folder = mirror / task.local.folder
        splits = {name: folder / file for name, file in task.local.files.items() if name != "test" or task.labelled_test}
        for path in splits.values():
            if not path.is_file():
                raise AssetError(f"{path}: data file for task {task.name!r} is missing")
        return {name: str(path) for name, path in splits.items()}
    if hub_offline():
        where = f"no local copy under {mirror}" if mirror else "no mirror configured"
        raise AssetError(f"task {task.name!r}: {where} and HF_HUB_OFFLINE is set, so the Hub cannot be used")
    name = task.hub.path + (f"/{task.hub.config}" if task.hub.config else "")
    return {split: f"hub:{name}[{hub_split}]" for split, hub_split in task.hub.splits.items()}


def _read_local(task: TaskSpec, files: dict[str, str]) -> datasets.DatasetDict:
    local = task.local
    csv_options = {"delimiter": "\t", "quoting": 3, "keep_default_na": False}  # GLUE/STS files: tabs, no quoting
    if local.column_names:
        csv_options.update(header=None, names=list(local.column_names), usecols=list(range(len(local.column_names))))
    splits = {}
    for split, path in files.items():
        if Path(path).stat().st_size == 0:
            raise DataError(f"{path}: split is empty")
        raw = datasets.load_dataset("csv", data_files={split: path}, **csv_options)[split]
        for column in (local.text_a, local.text_b, local.label):
            if column is not None and column not in raw.column_names:
                raise DataError(f"{path}: column {column!r} not found (columns: {', '.join(raw.column_names)})")
        labels = raw[local.label]
        if local.label_map is not None:
            unknown = sorted({str(v) for v in labels} - set(local.label_map))
            if unknown:
                raise DataError(f"{path}: column {local.label!r} has labels {unknown[:3]} not in {sorted(local.label_map)}")
            labels = [local.label_map[str(v)] for v in labels]
        splits[split] = datasets.Dataset.from_dict({
            "idx": list(range(len(raw))),
            "text_a": [str(t) for t in raw[local.text_a]],
            "text_b": [str(t) for t in raw[local.text_b]] if local.text_b else [None] * len(raw),
            "label": labels,
        })
    return datasets.DatasetDict(splits)


def _read_hub(task: TaskSpec) -> datasets.DatasetDict:
    hub = task.hub
    splits = {}
    for split, hub_split in hub.splits.items():
        raw = datasets.load_dataset(hub.path, hub.config, split=hub_split)
        splits[split] = datasets.Dataset.from_dict({
            "idx": list(range(len(raw))),
            "text_a": raw[hub.text_a],
            "text_b": raw[hub.text_b] if hub.text_b else [None] * len(raw),
            "label": raw[hub.label],
        })
    return datasets.DatasetDict(splits)


def check_split(task: TaskSpec, split: datasets.Dataset, source: str) -> None:
    """Fail on an empty split or a label outside the task's label space (the source names the file)."""
    if len(split) == 0:
        raise DataError(f"{source}: split is empty")
    labels = split["label"]
    if task.is_regression:
        bad = [v for v in labels if not isinstance(v, (int, float)) or math.isnan(float(v))]
        if bad:
            raise DataError(f"{source}: column 'label' has non-numeric scores, e.g. {bad[0]!r}, for regression task {task.name!r}")
        return
    bad = sorted({v for v in labels if not isinstance(v, int) or not 0 <= v < task.num_labels}, key=str)
    if bad:
        raise DataError(
            f"{source}: column 'label' has {bad[:3]} outside 0..{task.num_labels - 1} "
            f"(task {task.name!r} declares {task.num_labels} classes)"
        )


def load_task_splits(task: TaskSpec, mirror: Path | None) -> tuple[datasets.DatasetDict, dict[str, str]]:
    """The checked splits of `task` in canonical columns, and where each split came from."""
    sources = describe_source(task, mirror)
    splits = _read_local(task, sources) if not next(iter(sources.values())).startswith("hub:") else _read_hub(task)
    for name, split in splits.items():
        check_split(task, split, sources[name])
    return splits, sources


def subsample(split: datasets.Dataset, size: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset of `size` rows (all rows when `size` is None or larger than the split)."""
    if size is None or size >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(size))


def tokenize(split: datasets.Dataset, tokenizer, task: TaskSpec, max_length: int) -> datasets.Dataset:
    """Token ids without padding (the collator pads per batch); keeps `idx` and a float or int `label`.

    Regression labels are stored divided by `task.label_scale` (the training target); evaluation scales back.
    """
    def encode(batch: dict) -> dict:
        pairs = batch["text_b"] if any(text is not None for text in batch["text_b"]) else None
        encoded = tokenizer(batch["text_a"], pairs, truncation=True, max_length=max_length)
        if task.is_regression:
            encoded["label"] = [value / task.label_scale for value in batch["label"]]
        return encoded

    encoded = split.map(encode, batched=True, remove_columns=["text_a", "text_b"])
    label_type = datasets.Value("float32") if task.is_regression else datasets.Value("int64")
    return encoded.cast_column("label", label_type)


def load_prepared(folder: str | Path) -> dict[str, datasets.Dataset]:
    """The tokenised splits written by the prepare_data step, keyed by split name."""
    folder = Path(folder)
    return {path.name: datasets.load_from_disk(str(path)) for path in sorted(folder.iterdir()) if path.is_dir()}


def token_digest(split: datasets.Dataset) -> str:
    """A fingerprint of a split's token ids, to check that cached teacher outputs belong to the same inputs.

    QA needs it: start/end logits are per token position, so they only transfer between identical windows.
    """
    digest = hashlib.sha256()
    for ids in split["input_ids"]:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
    return digest.hexdigest()
