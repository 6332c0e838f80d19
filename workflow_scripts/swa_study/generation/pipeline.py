"""The generation family in the pipeline: concept sets -> tokenised (source, target) pairs; a model -> ROUGE and BLEU.

The prepared folder holds `train` (source ids, `label` = target ids padded with -100 so the loss skips padding, and
`idx`) and `validation` (one row per concept set with all its references, plus `idx`): training sees one pair per
row, scoring compares each generated sentence with every reference of its concept set. Scores are stored as
fractions (0..1) like every other task; the tables print them x100.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch
from transformers import AutoConfig

from ..local_files import read_rows
from ..study.sources import describe_source
from ..metrics import load_metric
from ..study.tasks import TaskSpec
from .data import group_references, load_commongen_offline, load_generation_hub, tokenize_for_seq2seq
from .models import generate_texts


def load_generation_splits(task: TaskSpec, mirror: Path | None, train_size: int | None, eval_size: int | None,
                           sample_seed: int) -> tuple[datasets.DatasetDict, dict[str, str]]:
    """Train pairs {concepts, target} and validation sources with all their references {concepts, references}:
    CommonGen's release files, a task's own csv/tsv/json/jsonl pairs (source = text_a, target = label; rows with
    the same source are one evaluation item with several references), or the Hub."""
    sources = describe_source(task, mirror)
    if not sources["train"].startswith("hub:") and task.local.format == "commongen":
        folder = str(Path(sources["train"]).parent)
        return load_commongen_offline(folder, train_size, eval_size, sample_seed), sources
    if not sources["train"].startswith("hub:"):
        def pairs(split: str) -> tuple[list[str], list[str]]:
            rows = read_rows(sources[split], task.local)
            return [row["text_a"] for row in rows], [str(row["label"]) for row in rows]
    else:
        raw = load_generation_hub(task.hub.path, task.hub.config)  # allenai/common_gen: concepts is a list of words

        def pairs(split: str) -> tuple[list[str], list[str]]:
            rows = raw[task.hub.splits[split]]
            texts = [" ".join(t) if isinstance(t, list) else t for t in rows[task.hub.columns.text_a]]
            return texts, list(rows[task.hub.columns.label])

    train = datasets.Dataset.from_dict(dict(zip(("concepts", "target"), pairs("train"))))
    validation = datasets.Dataset.from_list(group_references(*pairs("validation")))
    splits = {"train": train, "validation": validation}
    for name, size in (("train", train_size), ("validation", eval_size)):
        if size is not None and size < len(splits[name]):
            splits[name] = splits[name].shuffle(seed=sample_seed).select(range(size))
    return datasets.DatasetDict(splits), sources


def decoder_start_token(model_path: str, tokenizer, trust_remote_code: bool = False) -> int | None:
    """The token a warm-started BERT2BERT decoder starts from ([CLS]); None for native seq2seq checkpoints."""
    config = AutoConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    return None if getattr(config, "is_encoder_decoder", False) else tokenizer.cls_token_id


def prepare_generation(task: TaskSpec, tokenizer, mirror: Path | None, max_length: int, train_size: int | None,
                       eval_size: int | None, sample_seed: int, settings: dict[str, Any],
                       decoder_start: int | None) -> tuple[dict[str, datasets.Dataset], dict[str, str]]:
    """Tokenise training pairs once (sources to `max_length`, targets to `max_target_length`); keep dev as text."""
    splits, sources = load_generation_splits(task, mirror, train_size, eval_size, sample_seed)
    train = splits["train"].map(
        lambda batch: tokenize_for_seq2seq(batch, tokenizer, max_length, settings["max_target_length"],
                                           decoder_start_token_id=decoder_start),
        batched=True, remove_columns=splits["train"].column_names,
    )
    train = train.rename_column("labels", "label").add_column("idx", list(range(len(train))))
    validation = splits["validation"].add_column("idx", list(range(len(splits["validation"]))))
    return {"train": train, "validation": validation}, sources


def evaluate_generation(model: torch.nn.Module, tokenizer, task: TaskSpec, splits: dict[str, datasets.Dataset],
                        settings: dict[str, Any], max_length: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """Beam-search one sentence per concept set and score it against all of that set's references."""
    validation = splits["validation"]
    texts = generate_texts(model, tokenizer, list(validation["concepts"]), num_beams=settings["num_beams"],
                           max_new_tokens=settings["max_new_tokens"], batch_size=settings["eval_batch_size"],
                           max_source_length=max_length)
    scores = load_metric("rouge_bleu_local").compute(predictions=texts, references=list(validation["references"]))
    metrics = {name: float(scores[name]) / 100 for name in task.metrics}
    table = pd.DataFrame({
        "split": "validation", "idx": validation["idx"], "concepts": validation["concepts"],
        "label": [" | ".join(refs) for refs in validation["references"]], "prediction": texts,
    })
    return {"validation": metrics}, table
