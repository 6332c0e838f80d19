"""How a model reads a sentence or a sentence pair: its pad token, the separator between two sentences, truncation.

Encoders (BERT, RoBERTa, DeBERTa, ...) ship a pad token and a separator, and their tokenizer joins a pair itself.
Decoder LMs (GPT-2, Llama, Qwen, SmolLM) ship neither: batches need a pad token, which is the end-of-sequence token
unless config `models.pad_token` names another, and the model's config must know it, since their classification
heads pool at the last token that is not padding (transformers finds it from `pad_token_id`, with either padding
side). A pair would be glued together with nothing between its sentences, so it is joined here as
`<prefix> A <eos> B <suffix>` (prefix/suffix: what the tokenizer adds around one sentence, e.g. Llama's <s>), cut
longest-first like the encoders' pairs.
"""
from __future__ import annotations

from typing import Any

from transformers import AutoTokenizer

from .steps import warn

TRUNCATION_WARNING_SHARE = 0.05  # warn when truncation cuts more rows than this share of a split


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False, pad_token: str | None = None):
    """The model's tokenizer, with a pad token: its own, else `pad_token`, else its end-of-sequence token."""
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        chosen = pad_token or tokenizer.eos_token
        if chosen is None:
            raise ValueError(f"{name_or_path}: the tokenizer has no pad token and no end-of-sequence token; "
                             "set models.pad_token to one of its tokens")
        if chosen not in tokenizer.get_vocab():
            raise ValueError(f"{name_or_path}: models.pad_token {chosen!r} is not a token of this tokenizer")
        tokenizer.pad_token = chosen
    return tokenizer


def match_padding(model, tokenizer) -> None:
    """Give the model's config the tokenizer's pad id: a decoder's head finds the last real token with it."""
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def input_facts(tokenizer) -> dict[str, Any]:
    """How the model's inputs were padded and joined, for train_info.json."""
    return {"pad_token": tokenizer.pad_token, "pad_token_id": tokenizer.pad_token_id,
            "padding_side": tokenizer.padding_side, "pair_separator": pair_separator(tokenizer)}


def pair_separator(tokenizer) -> str | None:
    """The token put between two sentences by us (decoders), or None where the tokenizer joins pairs itself."""
    return None if tokenizer.sep_token is not None else tokenizer.eos_token


def _special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer adds before and after one sentence (Llama: [<s>], []; GPT-2: [], [])."""
    plain = tokenizer("probe", add_special_tokens=False)["input_ids"]
    full = tokenizer("probe")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return full[:start], full[start + len(plain):]
    return [], []


def _cut_longest_first(first: list[int], second: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Cut both to fit `budget` as the fast tokenizers' `longest_first` does: the longer one down to what the shorter
    leaves, and when that is not enough both to half the budget, the longer (the second, on a tie) one more."""
    if len(first) + len(second) <= budget:
        return first, second
    swapped = len(first) > len(second)
    short, long = (len(second), len(first)) if swapped else (len(first), len(second))
    long = short if short > budget else max(short, budget - short)
    if short + long > budget:
        short = budget // 2
        long = short + budget % 2
    keep_first, keep_second = (long, short) if swapped else (short, long)
    return first[:keep_first], second[:keep_second]


def _join_pairs(tokenizer, texts_a: list[str], texts_b: list[str], max_length: int | None) -> dict[str, list]:
    separator = tokenizer.convert_tokens_to_ids(pair_separator(tokenizer))
    prefix, suffix = _special_tokens_around(tokenizer)
    firsts = tokenizer(texts_a, add_special_tokens=False)["input_ids"]
    seconds = tokenizer(texts_b, add_special_tokens=False)["input_ids"]
    ids = []
    for first, second in zip(firsts, seconds):
        if max_length is not None:
            first, second = _cut_longest_first(first, second, max_length - len(prefix) - len(suffix) - 1)
        ids.append([*prefix, *first, separator, *second, *suffix])
    return {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}


def encode_texts(tokenizer, texts_a: list[str], texts_b: list[str] | None, max_length: int | None) -> dict[str, list]:
    """Token ids of sentences or pairs, cut to `max_length` tokens (None: uncut, to measure what a cut loses)."""
    if texts_b is not None and pair_separator(tokenizer) is not None:
        return dict(_join_pairs(tokenizer, texts_a, texts_b, max_length))
    if max_length is None:
        return tokenizer(texts_a, texts_b, verbose=False)
    return tokenizer(texts_a, texts_b, truncation=True, max_length=max_length)


def warn_if_truncated(task: str, split: str, lengths: list[int], max_length: int) -> int:
    """How many rows `max_length` cuts; above a few per cent a warning names the task on the console and the log."""
    cut = sum(length > max_length for length in lengths)
    if lengths and cut / len(lengths) > TRUNCATION_WARNING_SHARE:
        message = (f"warning: task {task!r}: {cut} of {len(lengths)} {split} rows ({cut / len(lengths):.0%}) are "
                   f"longer than max_length {max_length} tokens and are cut; raise data.max_length to keep them")
        warn(message)
    return cut
