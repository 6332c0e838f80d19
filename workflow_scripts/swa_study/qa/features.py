"""Tokenise SQuAD examples into model windows (the preprocessing of transformers' examples/pytorch/question-answering).

A context is usually longer than the model's window, so each (question, context) pair becomes one or more
*features*: the question plus a slice of the context, consecutive slices overlapping by `doc_stride` tokens so that
an answer cut by one window boundary lies whole inside the next window. Only the context is ever truncated.

Training features carry `start_positions` / `end_positions`: the token indices of the first answer, or of the CLS
token when the answer is not (entirely) inside the window - the model then learns "no answer here", which is also
how SQuAD v2 unanswerable questions are encoded.

Validation features carry `example_id` (which question the window belongs to, as one question may span several
windows) and `offset_mapping` with the character spans of context tokens and None for every other token (question,
special and padding tokens), so postprocessing can map predicted token positions back to context text and can never
pick an answer inside the question.

The functions take a *batch* (a dict of columns, as `Dataset.map(batched=True)` passes) and work with any fast
tokenizer; with a left-padding tokenizer the context comes first, as the reference script does.
"""
from __future__ import annotations

import functools
from typing import Any

import datasets


def _check_lengths(max_length: int, doc_stride: int) -> None:
    if max_length < 8:
        raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
    if not 0 <= doc_stride < max_length:
        raise ValueError(f"doc_stride must be in [0, max_length), got {doc_stride} with max_length {max_length}")


def _tokenize(
    examples: dict[str, list], tokenizer: Any, max_length: int, doc_stride: int, pad_to_max_length: bool
) -> tuple[Any, int]:
    """Tokenise the batch into overlapping windows; return the encoding and the sequence index of the context."""
    _check_lengths(max_length, doc_stride)
    pad_on_right = tokenizer.padding_side == "right"
    # Leading blanks in some SQuAD questions waste window space and can push a question over the limit.
    questions = [question.lstrip() for question in examples["question"]]
    contexts = examples["context"]
    encoding = tokenizer(
        questions if pad_on_right else contexts,
        contexts if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length" if pad_to_max_length else False,
    )
    return encoding, 1 if pad_on_right else 0


def _answer_token_span(
    offsets: list, sequence_ids: list, context_index: int, start_char: int, end_char: int
) -> tuple[int, int] | None:
    """Token indices (first, last) of the answer characters [start_char, end_char) if the window holds them all."""
    context_tokens = [k for k, seq in enumerate(sequence_ids) if seq == context_index]
    if not context_tokens:
        return None
    first, last = context_tokens[0], context_tokens[-1]
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return None
    start = first
    while start <= last and offsets[start][0] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


def prepare_train_features(
    examples: dict[str, list],
    tokenizer: Any,
    max_length: int = 384,
    doc_stride: int = 128,
    pad_to_max_length: bool = True,
) -> dict[str, list]:
    """Tokenise a batch of SQuAD rows into training windows with `start_positions` and `end_positions`.

    Only the first gold answer is used (the training files have exactly one). A window that does not contain the
    whole answer, and every window of a question without answers (SQuAD v2), points both positions at the CLS token.
    The returned columns are the tokenizer's (input_ids, attention_mask, token_type_ids if any) plus the positions;
    offsets and the window-to-example mapping are dropped because training does not need them.
    """
    encoding, context_index = _tokenize(examples, tokenizer, max_length, doc_stride, pad_to_max_length)
    sample_mapping = encoding.pop("overflow_to_sample_mapping")
    offset_mapping = encoding.pop("offset_mapping")
    start_positions: list[int] = []
    end_positions: list[int] = []
    for i, offsets in enumerate(offset_mapping):
        input_ids = encoding["input_ids"][i]
        # With left padding the CLS token is not at index 0, so look it up.
        cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        answers = examples["answers"][sample_mapping[i]]
        span = None
        if answers["answer_start"]:
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            span = _answer_token_span(offsets, encoding.sequence_ids(i), context_index, start_char, end_char)
        start_positions.append(cls_index if span is None else span[0])
        end_positions.append(cls_index if span is None else span[1])
    encoding["start_positions"] = start_positions
    encoding["end_positions"] = end_positions
    return dict(encoding)


def prepare_validation_features(
    examples: dict[str, list],
    tokenizer: Any,
    max_length: int = 384,
    doc_stride: int = 128,
    pad_to_max_length: bool = True,
) -> dict[str, list]:
    """Tokenise a batch of SQuAD rows into evaluation windows with `example_id` and a context-only `offset_mapping`.

    Remove `example_id` and `offset_mapping` before feeding the features to a model; keep them for
    `postprocess_predictions`.
    """
    encoding, context_index = _tokenize(examples, tokenizer, max_length, doc_stride, pad_to_max_length)
    sample_mapping = encoding.pop("overflow_to_sample_mapping")
    example_ids: list[str] = []
    for i in range(len(encoding["input_ids"])):
        sequence_ids = encoding.sequence_ids(i)
        example_ids.append(examples["id"][sample_mapping[i]])
        encoding["offset_mapping"][i] = [
            tuple(offset) if sequence_ids[k] == context_index else None
            for k, offset in enumerate(encoding["offset_mapping"][i])
        ]
    encoding["example_id"] = example_ids
    return dict(encoding)


def _map_windows(dataset: datasets.Dataset, prepare: Any, tokenizer: Any, max_length: int, doc_stride: int,
                 pad_to_max_length: bool, desc: str) -> datasets.Dataset:
    """Map a feature function over a whole split; the original columns are dropped (rows != examples)."""
    function = functools.partial(prepare, tokenizer=tokenizer, max_length=max_length, doc_stride=doc_stride,
                                 pad_to_max_length=pad_to_max_length)
    return dataset.map(function, batched=True, remove_columns=dataset.column_names, desc=desc)


def build_train_features(dataset: datasets.Dataset, tokenizer: Any, max_length: int = 384, doc_stride: int = 128,
                         pad_to_max_length: bool = True) -> datasets.Dataset:
    """`prepare_train_features` over a whole split."""
    return _map_windows(dataset, prepare_train_features, tokenizer, max_length, doc_stride, pad_to_max_length,
                        "train windows")


def build_validation_features(dataset: datasets.Dataset, tokenizer: Any, max_length: int = 384, doc_stride: int = 128,
                              pad_to_max_length: bool = True) -> datasets.Dataset:
    """`prepare_validation_features` over a whole split."""
    return _map_windows(dataset, prepare_validation_features, tokenizer, max_length, doc_stride, pad_to_max_length,
                        "validation windows")
