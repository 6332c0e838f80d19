"""The forward pass and the supervised loss every method shares, for all three task families.

Kept apart from the methods so that the Trainer set-up (training.py) and the methods (methods/) both build on it
without importing each other.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .study.tasks import TaskSpec

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
IGNORE_INDEX = -100  # label of a position the loss skips (padding of generated targets)


def supervised_loss(task: TaskSpec, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the last axis, or mean squared error for regression tasks (one output).

    One formula for every family: classification logits are (batch, classes), QA ones (batch, 2, length) with the
    start and end token as labels (the mean is HF's (start loss + end loss) / 2), seq2seq ones (batch, length,
    vocabulary) with padded target positions labelled IGNORE_INDEX.
    """
    if task.is_regression:
        return F.mse_loss(logits.view(-1), labels.float().view(-1))
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX)


def forward_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's logits for the batch's token inputs, shaped as `supervised_loss` expects.

    Only token inputs reach the model, so it never computes a loss of its own; a seq2seq decoder reads the gold
    target shifted right (teacher forcing), and a QA model's start and end logits are stacked on axis 1.
    """
    inputs = {key: batch[key] for key in MODEL_INPUTS if key in batch}
    core = getattr(model, "module", model)  # data-parallel training hands over the DDP wrapper; config is inside
    if getattr(getattr(core, "config", None), "is_encoder_decoder", False):
        inputs.pop("token_type_ids", None)
        inputs["decoder_input_ids"] = core.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
    outputs = model(**inputs)
    if getattr(outputs, "start_logits", None) is not None:
        return torch.stack([outputs.start_logits, outputs.end_logits], dim=1)
    return outputs.logits
