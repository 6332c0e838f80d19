"""Load and save the three kinds of model the study trains: the same call for a Hub id and a mirrored folder.

classification: an encoder with a sequence-classification head; qa: with a span (start/end) head; generation: a
seq2seq model (a native T5/BART checkpoint, or BERT2BERT warm-started from an encoder, generation/models.py).
Weights are read and written as safetensors.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import (AutoConfig, AutoModelForQuestionAnswering, AutoModelForSequenceClassification,
                          AutoTokenizer, set_seed)

from .io import atomic_dir
from .study.tasks import TaskSpec
from .text_inputs import load_tokenizer, match_padding

SWAG_FILE = "swag_moments.safetensors"  # beside the weights of a SWAG run: the moments its evaluation samples from


def has_swag_moments(model_dir: str | Path) -> bool:
    return (Path(model_dir) / SWAG_FILE).is_file()


def load_for_training(name_or_path: str, task: TaskSpec, seed: int, trust_remote_code: bool = False,
                      pad_token: str | None = None):
    """A pre-trained model with a fresh head for the task's family; `seed` fixes the new weights' initial values.

    A tokenizer without a pad token (decoder LMs) pads with `pad_token` or its end-of-sequence token, and the
    model's config learns that id (text_inputs.py).
    """
    set_seed(seed)
    if task.family == "generation":
        from .generation.models import build_seq2seq  # imported here: classification runs never pay for it

        return build_seq2seq(name_or_path, trust_remote_code=trust_remote_code)
    tokenizer = load_tokenizer(name_or_path, trust_remote_code, pad_token)
    if task.family == "qa":
        model = AutoModelForQuestionAnswering.from_pretrained(
            name_or_path, trust_remote_code=trust_remote_code, use_safetensors=True)
        match_padding(model, tokenizer)
        return model, tokenizer
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_path,
        num_labels=task.num_labels,
        problem_type="regression" if task.is_regression else "single_label_classification",
        trust_remote_code=trust_remote_code,
        use_safetensors=True,
    )
    match_padding(model, tokenizer)
    return model, tokenizer


class ModelFileError(ValueError):
    """A saved model cannot be read; the message names its folder and tells how to rebuild it."""


def load_trained(folder: str | Path):
    """A model saved by `save_trained` (safetensors only) and its tokenizer; the saved config says which kind.

    A damaged folder (truncated weights, a broken config) is one line naming it, not a deserializer's traceback.
    """
    try:
        return _load_trained(folder)
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ModelFileError(f"{folder}: cannot load the saved model ({reason}); rerun the rule that wrote it "
                             "(snakemake -R <rule>, or delete the folder)") from None


def _load_trained(folder: str | Path):
    config = AutoConfig.from_pretrained(str(folder))
    if getattr(config, "is_encoder_decoder", False):
        from .generation.models import build_seq2seq

        return build_seq2seq(str(folder))
    architecture = (config.architectures or [""])[0]
    auto_class = AutoModelForQuestionAnswering if architecture.endswith("ForQuestionAnswering") \
        else AutoModelForSequenceClassification
    return auto_class.from_pretrained(str(folder), use_safetensors=True), AutoTokenizer.from_pretrained(str(folder))


def save_trained(model: torch.nn.Module, tokenizer, folder: str | Path,
                 extra: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
    """Write weights (safetensors) and tokenizer into `folder` atomically, with any `extra` {file: tensors} beside
    them (SWAG's moments)."""
    from safetensors.torch import save_file

    with atomic_dir(folder) as staging:
        model.save_pretrained(staging)  # transformers 5 always writes safetensors
        tokenizer.save_pretrained(staging)
        for name, tensors in (extra or {}).items():
            save_file(tensors, str(Path(staging) / name))


