"""What differs between the three task families, behind two calls: prepare a task's data, and score a trained model.

classification (GLUE, STS-B): sentence (pairs) -> label, scored with the task's metrics (metrics.py);
qa (SQuAD): question + context windows -> start/end token, scored with official EM/F1 (qa/pipeline.py);
generation (CommonGen): concepts -> sentence, scored with ROUGE/BLEU on beam-search output (generation/pipeline.py).
Everything else (methods, Trainer set-up, SWA, KD losses, tracking) is shared: a QA model's start/end logits are
a (batch, 2, length) tensor and a seq2seq model's a (batch, target length, vocabulary) one, so the classification
cross-entropy and KL divergence apply per position unchanged (methods/base.py).

`settings` is the family's own config section (`qa:` or `generation:`; empty for classification).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch

from .data import (DataError, count_overlap, count_truncated, load_task_splits, split_training_rows, subsample,
                   tokenize)
from .study.tasks import TaskSpec


def prepare_task(task: TaskSpec, tokenizer, model_path: str, mirror: Path | None, max_length: int,
                 train_size: int | None, eval_size: int | None, sample_seed: int, settings: dict[str, Any],
                 trust_remote_code: bool = False, heldout_size: int = 0,
                 ) -> tuple[dict[str, datasets.Dataset], dict[str, str], dict[str, int]]:
    """The task's splits, checked, sub-sampled and tokenised for `tokenizer`, where each split came from, and how
    many rows of each max_length cut (classification; QA windows a context instead of cutting it).

    Classification also gets `heldout`: `heldout_size` training rows kept out of training, on which checkpoints
    are chosen (QA and generation choose none: their teachers keep the last epoch).
    """
    sizes = dict(train_size=train_size, eval_size=eval_size, sample_seed=sample_seed)
    if task.family == "qa":
        from .qa.pipeline import prepare_qa

        return (*prepare_qa(task, tokenizer, mirror, max_length, settings=settings, **sizes), {})
    if task.family == "generation":
        from .generation.pipeline import decoder_start_token, prepare_generation

        start = decoder_start_token(model_path, tokenizer, trust_remote_code)
        return (*prepare_generation(task, tokenizer, mirror, max_length, settings=settings, decoder_start=start,
                                    **sizes), {})
    splits, sources = load_task_splits(task, mirror)  # raises on missing files, ragged rows, bad labels
    if train_size is not None and train_size > len(splits["train"]):
        raise DataError(f"{sources['train']}: data.train_size {train_size} exceeds the {len(splits['train'])} rows "
                        f"of task {task.name!r}'s training file; lower it, or null to train on every row")
    for name, split in splits.items():
        if name != "train":
            count_overlap(splits["train"], split, task, name)
    train, heldout = split_training_rows(splits["train"], train_size, heldout_size, sample_seed)
    chosen = {"train": train, **({"heldout": heldout} if len(heldout) else {}),
              **{name: subsample(split, eval_size, sample_seed) for name, split in splits.items() if name != "train"}}
    truncated = {name: count_truncated(split, tokenizer, task, max_length, name) for name, split in chosen.items()}
    return {name: tokenize(split, tokenizer, task, max_length) for name, split in chosen.items()}, sources, truncated


def evaluate_task(model: torch.nn.Module, tokenizer, task: TaskSpec, splits: dict[str, datasets.Dataset],
                  settings: dict[str, Any], max_length: int, calibration_bins: int = 15,
                  ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics per evaluation split ({"validation": {...}, ...}, fractions 0..1) and a per-example predictions table;
    classification adds its calibration (ECE over `calibration_bins` bins, NLL, Brier)."""
    if task.family == "qa":
        from .qa.pipeline import evaluate_qa

        return evaluate_qa(model, tokenizer, task, splits, settings)
    if task.family == "generation":
        from .generation.pipeline import evaluate_generation

        return evaluate_generation(model, tokenizer, task, splits, settings, max_length)
    from .evaluation import evaluate_splits

    return evaluate_splits(model, tokenizer, task, splits, calibration_bins)
