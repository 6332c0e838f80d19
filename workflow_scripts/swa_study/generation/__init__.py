"""Building blocks of the generation task family (CommonGen-style concept-to-text).

* :mod:`.data`   -- offline/hub loading and seq2seq tokenisation;
* :mod:`.models` -- seq2seq construction (native or BERT2BERT warm start) and generation.

Scoring lives in the local ``evaluate`` module ``metric_modules/rouge_bleu_local``, loaded
with ``evaluate.load(path)`` so that it works offline.
"""

from .data import (
    group_references,
    load_commongen_offline,
    load_generation_hub,
    read_commongen_jsonl,
    tokenize_for_seq2seq,
)
from .models import SharedEmbeddingEncoderDecoderModel, build_seq2seq, generate_texts

__all__ = [
    "SharedEmbeddingEncoderDecoderModel",
    "build_seq2seq",
    "generate_texts",
    "group_references",
    "load_commongen_offline",
    "load_generation_hub",
    "read_commongen_jsonl",
    "tokenize_for_seq2seq",
]
