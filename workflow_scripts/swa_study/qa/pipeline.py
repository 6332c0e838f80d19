"""The QA family in the pipeline: SQuAD rows -> windowed features on disk; a trained span model -> EM and F1.

The prepared folder holds three splits: `train` (windows with `label` = [start token, end token] and `idx` = window
number, so cached teacher start/end logits can be checked against the student's windows), `validation` (windows
with `example_id` and `offset_mapping` for post-processing) and `validation_examples` (the questions with their gold
answers). Scores are stored as fractions (0..1) like every other task; the tables print them x100.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch

from ..data import subsample
from ..study.sources import describe_source
from ..study.tasks import TaskSpec
from ..prediction import predict_logits
from .data import load_squad_file, load_squad_hub, load_squad_offline
from .features import build_train_features, build_validation_features
from .postprocess import postprocess_predictions
from .squad_metric import compute_squad


def load_squad_splits(task: TaskSpec, mirror: Path | None, settings: dict[str, Any]) -> tuple[datasets.DatasetDict, dict[str, str]]:
    """Train and validation splits: the Hub's, a task's own train and dev files, or (one file named for both, as
    offline SQuAD's dev-v1.1.json) that file cut by article (qa.train_articles, eval_articles, split_seed)."""
    sources = describe_source(task, mirror)
    if sources["train"].startswith("hub:"):
        return load_squad_hub(task.hub.path, task.hub.config, task.hub.splits), sources
    if sources["train"] != sources["validation"]:
        return datasets.DatasetDict({name: load_squad_file(path) for name, path in sources.items()}), sources
    splits = load_squad_offline(sources["train"], settings["train_articles"], settings["eval_articles"],
                                seed=settings["split_seed"])
    return splits, sources


def _span_labels(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
    """`label` = [start token, end token] (the shared loss's target) and `idx` = window number (for cached logits)."""
    return {"label": [[start, end] for start, end in zip(batch["start_positions"], batch["end_positions"])],
            "idx": indices}


def prepare_qa(task: TaskSpec, tokenizer, mirror: Path | None, max_length: int, train_size: int | None,
               eval_size: int | None, sample_seed: int, settings: dict[str, Any]) -> tuple[dict[str, datasets.Dataset], dict[str, str]]:
    """Sub-sample questions (not windows, so a question is never half-kept) and cut them into model windows."""
    splits, sources = load_squad_splits(task, mirror, settings)
    train = subsample(splits["train"], train_size, sample_seed)
    examples = subsample(splits["validation"], eval_size, sample_seed)
    stride = settings["doc_stride"]
    windows = build_train_features(train, tokenizer, max_length, stride)
    windows = windows.map(_span_labels, batched=True, with_indices=True,
                          remove_columns=["start_positions", "end_positions"])
    validation = build_validation_features(examples, tokenizer, max_length, stride)
    prepared = {"train": windows, "validation": validation, "validation_examples": examples}
    return prepared, sources


def evaluate_qa(model: torch.nn.Module, tokenizer, task: TaskSpec, splits: dict[str, datasets.Dataset],
                settings: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Official EM/F1 on the validation questions from the best span over each question's windows."""
    features, examples = splits["validation"], splits["validation_examples"]
    logits = predict_logits(model, features, tokenizer)  # (windows, 2, length): start and end logits
    answers = postprocess_predictions(
        examples.select_columns(["id", "context"]), features.select_columns(["example_id", "offset_mapping"]),
        logits[:, 0], logits[:, 1], n_best=settings["n_best"], max_answer_length=settings["max_answer_length"],
        version_2=task.version_2, null_threshold=settings["null_threshold"],
    )
    gold = dict(zip(examples["id"], examples["answers"]))
    scores = compute_squad(answers, gold, version_2=task.version_2)
    metrics = {key: float(value) / 100 for key, value in scores.items() if key != "total" and not key.endswith("_total")}
    table = pd.DataFrame({
        "split": "validation", "idx": examples["id"],
        "label": [" | ".join(answer["text"]) for answer in examples["answers"]],
        "prediction": [answers[qid] for qid in examples["id"]],
    })
    return {"validation": metrics}, table

