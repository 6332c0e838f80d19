"""Batches and logits outside the Trainer: the padding collator every step shares, and prediction in the rows' order.

Kept apart from training.py so that the steps which only predict (evaluate, teacher_logits, the flatness
analysis, soups) load no Trainer, nor the accelerate and optimizer machinery it brings, which they never use.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import DataCollatorWithPadding

from .batching import length_sorted_batches, token_lengths
from .losses import IGNORE_INDEX, MODEL_INPUTS, forward_logits

PAD_MULTIPLE = 8 if torch.cuda.is_available() else None  # GPU tensor cores want multiples of 8; a CPU gains nothing


def model_columns(split, extra: tuple[str, ...] = ()) -> list[str]:
    """The columns a training or evaluation batch needs: token inputs, the label, and any `extra` ones."""
    return [c for c in (*MODEL_INPUTS, "label", *extra) if c in split.column_names]


class PadCollator:
    """Pads token inputs per batch; stacks cached teacher logits, which the tokenizer's padder must not touch."""

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        self.pad = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        features = [dict(f) for f in features]
        teacher = [f.pop("teacher_logits") for f in features] if "teacher_logits" in features[0] else None
        for f in features:
            f.pop("idx", None)
        batch = self.pad(features)
        labels = batch.get("labels")
        if labels is not None and labels.dim() == 2 and bool((labels == IGNORE_INDEX).any()):
            # Seq2seq targets come padded to max_target_length; logits are computed per target position, so
            # cut the columns no row of this batch uses (half the output-layer cost on CommonGen).
            used = int((labels != IGNORE_INDEX).any(dim=0).nonzero().max()) + 1
            batch["labels"] = labels[:, :used]
        if teacher is not None:
            batch["teacher_logits"] = torch.tensor(np.asarray(teacher), dtype=torch.float32)
        return batch


@torch.no_grad()
def predict_logits(model: torch.nn.Module, dataset, tokenizer, batch_size: int = 128) -> np.ndarray:
    """Logits for every row of a tokenised dataset, in the dataset's order, in fp32.

    Rows run in batches sorted by length (per-batch padding then pads little) and the outputs are put back in the
    rows' order. Rows padded to one length (QA windows) keep their order, so outputs of one shape concatenate.
    """
    model.eval()
    collate = PadCollator(tokenizer, PAD_MULTIPLE)
    rows = dataset.select_columns(model_columns(dataset))
    batches = length_sorted_batches(token_lengths(rows), batch_size)
    outputs = []
    for indices in batches:
        columns = rows[indices.tolist()]  # one read per batch
        features = [dict(zip(columns, values)) for values in zip(*columns.values())]
        outputs.append(forward_logits(model, collate(features)).float().cpu().numpy())
    logits = np.concatenate(outputs)
    restored = np.empty_like(logits)
    restored[np.concatenate(batches)] = logits
    return restored
