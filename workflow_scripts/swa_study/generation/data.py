"""Data loading and tokenisation for the generation task family (CommonGen).

CommonGen pairs a set of concepts ("field stand look") with everyday sentences
that use all of them. Training uses one (concepts, sentence) pair per row; evaluation
needs *all* reference sentences of a concept set at once, because BLEU/ROUGE are
computed against multiple references. Hence the two row shapes:

* ``train``:      ``{"concepts": str, "target": str}``            (one row per pair)
* ``validation``: ``{"concepts": str, "references": list[str]}``  (one row per concept set)

The offline folder mirrors the original CommonGen release: line-aligned
``commongen.{split}.src_alpha.txt`` / ``commongen.{split}.tgt.txt`` files plus
``commongen.{dev,test}.jsonl`` with the grouped references. Every problem with
those files raises a one-line ``ValueError`` naming the file, so a pipeline run fails
early and legibly instead of training on silently truncated data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Literal

import datasets

SPLIT_FILES = {"train": "train", "validation": "dev", "test": "test"}


def _read_lines(path: Path) -> list[str]:
    """Read a one-example-per-line file, rejecting missing, empty or blank-line files.

    Surrounding whitespace is stripped: some CommonGen references carry trailing
    spaces, which would otherwise make identical sentences compare unequal.

    A blank line would desynchronise nothing (alignment is by line number) but it
    would create an empty source or reference, which is always a data error here.
    """
    if not path.is_file():
        raise ValueError(f"CommonGen file not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    if not lines:
        raise ValueError(f"CommonGen file is empty: {path}")
    for number, line in enumerate(lines, start=1):
        if not line:
            raise ValueError(f"CommonGen file has a blank line {number}: {path}")
    return lines


def _read_pairs(folder: Path, stem: str) -> tuple[list[str], list[str]]:
    """Read the aligned source/target files of one split and check they align."""
    src_path = folder / f"commongen.{stem}.src_alpha.txt"
    tgt_path = folder / f"commongen.{stem}.tgt.txt"
    sources, targets = _read_lines(src_path), _read_lines(tgt_path)
    if len(sources) != len(targets):
        raise ValueError(
            f"CommonGen files are misaligned ({len(sources)} vs {len(targets)} lines): {src_path} / {tgt_path}"
        )
    return sources, targets


def group_references(sources: list[str], targets: list[str]) -> list[dict[str, Any]]:
    """Group aligned (source, target) lines into one row per distinct source line.

    Order is the order of first appearance, and references keep file order, so the
    result lines up with the jsonl release (checked in the tests). Grouping is by the
    exact source string: the same concepts in a different order form a different set,
    as in the original files.
    """
    grouped: dict[str, list[str]] = {}
    for source, target in zip(sources, targets, strict=True):
        grouped.setdefault(source, []).append(target)
    return [{"concepts": concepts, "references": refs} for concepts, refs in grouped.items()]


def read_commongen_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a grouped ``commongen.{dev,test}.jsonl`` into ``{concepts, references}`` rows.

    ``concept_set`` looks like ``"field_N#look_V#stand_V"``; the part-of-speech tags
    are dropped and the lemmas joined by spaces so that the input format matches the
    ``src_alpha`` lines a model is trained on (the concept *order* can differ from the
    txt files, which is why the txt files are the default validation source).
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(_read_lines(path), start=1):
        try:
            record = json.loads(line)
            lemmas = [item.rsplit("_", 1)[0] for item in record["concept_set"].split("#")]
            references = [str(ref).strip() for ref in record["scene"]]
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as error:
            raise ValueError(f"CommonGen jsonl line {number} is malformed ({error!r}): {path}") from None
        if not references:
            raise ValueError(f"CommonGen jsonl line {number} has no references: {path}")
        rows.append({"concepts": " ".join(lemmas), "references": references})
    return rows


def _subsample(rows: list[Any], size: int | None, seed: int, what: str, path: Path) -> list[Any]:
    """Seeded subsample that keeps file order; ``None`` keeps everything.

    ``random.Random(seed).sample`` is used (not numpy or datasets shuffling) because its
    output is stable across library versions, which keeps experiments reproducible.
    Asking for more rows than exist is an error rather than a silent cap, because a
    silently smaller training set would change the experiment without notice.
    """
    if size is None:
        return rows
    if size <= 0 or size > len(rows):
        raise ValueError(f"Cannot take {what}={size} from {len(rows)} available rows: {path}")
    keep = sorted(random.Random(seed).sample(range(len(rows)), size))
    return [rows[i] for i in keep]


def load_commongen_offline(
    folder: str,
    train_size: int | None,
    eval_sets: int | None,
    seed: int,
    *,
    validation_source: Literal["txt", "jsonl"] = "txt",
    include_test: bool = False,
) -> datasets.DatasetDict:
    """Load CommonGen from the offline release folder.

    Args:
        folder: directory holding ``commongen.*`` files.
        train_size: number of (concepts, target) training pairs to keep, seeded
            subsample; ``None`` keeps all pairs.
        eval_sets: number of validation *concept sets* to keep (each with all its
            references); ``None`` keeps all.
        seed: seed for both subsamples.
        validation_source: ``"txt"`` groups the dev src/tgt lines by identical source
            line (same concept formatting as training); ``"jsonl"`` reads the grouped
            dev jsonl instead.
        include_test: also return a grouped ``"test"`` split (all concept sets, from the
            txt files), for final evaluation.

    Returns:
        ``DatasetDict`` with ``train`` rows ``{concepts, target}`` and ``validation``
        (and optionally ``test``) rows ``{concepts, references}``.
    """
    root = Path(folder)
    train_sources, train_targets = _read_pairs(root, SPLIT_FILES["train"])
    train_rows = [{"concepts": s, "target": t} for s, t in zip(train_sources, train_targets, strict=True)]
    train_rows = _subsample(train_rows, train_size, seed, "train_size", root / "commongen.train.src_alpha.txt")

    if validation_source == "txt":
        eval_rows = group_references(*_read_pairs(root, SPLIT_FILES["validation"]))
        eval_path = root / "commongen.dev.src_alpha.txt"
    elif validation_source == "jsonl":
        eval_path = root / "commongen.dev.jsonl"
        eval_rows = read_commongen_jsonl(eval_path)
    else:
        raise ValueError(f"validation_source must be 'txt' or 'jsonl', got {validation_source!r}")
    eval_rows = _subsample(eval_rows, eval_sets, seed, "eval_sets", eval_path)

    reference_features = datasets.Features(
        {"concepts": datasets.Value("string"), "references": datasets.List(datasets.Value("string"))}
    )
    splits = {
        "train": datasets.Dataset.from_list(
            train_rows,
            features=datasets.Features({"concepts": datasets.Value("string"), "target": datasets.Value("string")}),
        ),
        "validation": datasets.Dataset.from_list(eval_rows, features=reference_features),
    }
    if include_test:
        test_rows = group_references(*_read_pairs(root, SPLIT_FILES["test"]))
        splits["test"] = datasets.Dataset.from_list(test_rows, features=reference_features)
    return datasets.DatasetDict(splits)


def load_generation_hub(name: str, config: str | None = None, **kwargs: Any) -> datasets.DatasetDict:
    """Load a generation dataset with ``datasets.load_dataset`` (needs network for hub ids).

    A deliberately thin wrapper, so online users (e.g. ``"allenai/common_gen"``) go
    through one call site; extra keyword arguments (``split``, ``data_files``,
    ``revision`` ...) are passed through unchanged. No schema normalisation is done:
    hub copies of CommonGen use different column names than the offline loader.
    """
    return datasets.load_dataset(name, config, **kwargs)


def tokenize_for_seq2seq(
    batch: dict[str, list[Any]],
    tokenizer: Any,
    max_source_length: int,
    max_target_length: int,
    *,
    source_column: str = "concepts",
    target_column: str = "target",
    decoder_start_token_id: int | None = None,
    pad_to_max_length: bool = True,
) -> dict[str, list[list[int]]]:
    """Tokenise a batch of rows into ``input_ids``/``attention_mask``/``labels``.

    Meant for ``Dataset.map(..., batched=True)``. Targets are tokenised unpadded and
    padded here with -100 directly (never with ``pad_token_id`` and a later id
    comparison, which would also mask real tokens for tokenizers whose pad token
    doubles as eos), so the cross-entropy ignores exactly the padding positions.

    If the tokenised targets start with ``decoder_start_token_id`` (BERT tokenizers add
    ``[CLS]``, which BERT2BERT also uses as decoder start), that first token is dropped:
    the model already receives it as the first decoder input, and keeping it would teach
    the decoder to emit ``[CLS]`` again as its first output. BART/T5 labels, whose first
    token differs from the decoder start token, are left untouched.

    With ``pad_to_max_length=False`` sequences are returned unpadded, for dynamic
    padding with ``transformers.DataCollatorForSeq2Seq`` (which pads labels with -100).
    """
    if max_source_length <= 0 or max_target_length <= 0:
        raise ValueError(f"max lengths must be positive, got {max_source_length}, {max_target_length}")
    padding = "max_length" if pad_to_max_length else False
    model_inputs = tokenizer(
        list(batch[source_column]),
        max_length=max_source_length,
        truncation=True,
        padding=padding,
        return_token_type_ids=False,
    )
    encoded_targets = tokenizer(text_target=list(batch[target_column]), truncation=True, max_length=max_target_length)
    labels = []
    for tokens in encoded_targets["input_ids"]:
        tokens = list(tokens)
        if decoder_start_token_id is not None and tokens and tokens[0] == decoder_start_token_id:
            tokens = tokens[1:]
        if pad_to_max_length:
            tokens = tokens + [-100] * (max_target_length - len(tokens))
        labels.append(tokens)
    return {
        "input_ids": model_inputs["input_ids"],
        "attention_mask": model_inputs["attention_mask"],
        "labels": labels,
    }
