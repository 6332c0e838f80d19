"""Resolve models and datasets by name: a local mirror folder when it has them, else the Hugging Face Hub.

The same names work online and offline. The mirror root comes from the config key `assets.mirror` or, when that
is empty, the environment variable SWA_STUDY_MIRROR; on our machines it is ../shared/offline-assets.
Mirror layout: <mirror>/models/<model name> (the last part of a Hub id) and the task folders of `tasks.LocalFiles`.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

MIRROR_ENV = "SWA_STUDY_MIRROR"


class AssetError(ValueError):
    """A model or data file the config names cannot be found; raised before any compute is spent."""


def mirror_root(configured: str | None) -> Path | None:
    """The mirror folder in use, or None for Hub-only. An explicitly configured folder must exist."""
    value = configured or os.environ.get(MIRROR_ENV) or None
    if value is None:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        source = "config assets.mirror" if configured else f"environment variable {MIRROR_ENV}"
        raise AssetError(f"{source}: mirror folder {str(root)!r} does not exist")
    return root


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep in name.replace("/", "", 1)


def resolve_model(name: str, mirror: Path | None, key: str = "model") -> str:
    """Return what `from_pretrained` should load: an existing folder, a mirrored copy, or the Hub id itself."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if mirror is not None:
        for candidate in (mirror / "models" / name, mirror / "models" / name.split("/")[-1]):
            if (candidate / "config.json").is_file():
                return str(candidate)
    if _looks_like_path(name):
        raise AssetError(f"config {key}: model folder {name!r} does not exist")
    if hub_offline():
        where = f"{mirror}/models" if mirror else "no mirror configured"
        raise AssetError(f"config {key}: model {name!r} is not in the mirror ({where}) and HF_HUB_OFFLINE is set")
    return name


def model_slug(name: str) -> str:
    """A file-name-safe name for a model, used to key caches that depend on its tokenizer."""
    return name.rstrip("/").split("/")[-1] if _looks_like_path(name) else name.replace("/", "--")


# position embeddings offset by the padding index: such models take max_position_embeddings - 2 tokens
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer", "mpnet", "bart", "mbart")


def model_positions(folder: str | Path) -> int | None:
    """How many tokens a local checkpoint's absolute position embeddings can take (its config.json), or None when
    it has no such limit (relative positions, as T5) or no local files (a Hub id, resolved at run time)."""
    config_file = Path(folder) / "config.json"
    if not config_file.is_file():
        return None
    config = json.loads(config_file.read_text())
    model_type = config.get("model_type", "")
    if model_type == "gpt2":
        return config.get("n_positions")
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int) or model_type in ("t5", "mt5"):
        return None
    return positions - 2 if model_type in OFFSET_POSITIONS else positions


@functools.lru_cache(maxsize=None)
def tokenizer_vocabulary(folder: str) -> dict[str, int] | None:
    """A local tokenizer's token -> id map, read from its files (tokenizer.json, else vocab.txt or vocab.json), or
    None when they are not there or not readable so (a Hub id; a SentencePiece model alone): then only the training
    job, which loads the tokenizer, can compare."""
    root = Path(folder)
    try:
        if (root / "tokenizer.json").is_file():
            spec = json.loads((root / "tokenizer.json").read_text())
            vocab = (spec.get("model") or {}).get("vocab")
            if isinstance(vocab, list):  # Unigram: [[piece, score], ...] in id order
                vocab = {entry[0]: index for index, entry in enumerate(vocab)}
            if not isinstance(vocab, dict):
                return None
            return {**vocab, **{token["content"]: token["id"] for token in spec.get("added_tokens") or []}}
        if (root / "vocab.txt").is_file():
            return {line: index for index, line in enumerate((root / "vocab.txt").read_text().splitlines())}
        if (root / "vocab.json").is_file():
            return json.loads((root / "vocab.json").read_text())
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return None
