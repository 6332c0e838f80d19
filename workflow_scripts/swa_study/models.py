"""Load and save sequence classifiers: the same call for a Hub id and a mirrored folder, weights as safetensors."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from .io import atomic_dir
from .tasks import TaskSpec


def load_classifier(name_or_path: str, task: TaskSpec, seed: int, trust_remote_code: bool = False):
    """A pre-trained encoder with a fresh task head; `seed` fixes the head's initial weights."""
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_path,
        num_labels=task.num_labels,
        problem_type="regression" if task.is_regression else "single_label_classification",
        trust_remote_code=trust_remote_code,
        use_safetensors=True,
    )
    return model, tokenizer


def load_trained(folder: str | Path):
    """A model saved by `save_trained` (safetensors only) and its tokenizer."""
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), use_safetensors=True)
    return model, AutoTokenizer.from_pretrained(str(folder))


def save_trained(model: torch.nn.Module, tokenizer, folder: str | Path) -> None:
    """Write weights (safetensors) and tokenizer into `folder` atomically."""
    with atomic_dir(folder) as staging:
        model.save_pretrained(staging)  # transformers 5 always writes safetensors
        tokenizer.save_pretrained(staging)
