"""Turn per-window start/end logits into one answer string per question (as utils_qa.py in transformers' examples).

A question may span several windows (see `features`), so every window proposes its best spans and the question's
answer is the highest-scoring valid span over all of its windows, where a span's score is
start_logit[start] + end_logit[end]. A span is valid when both ends are context tokens (offset not None),
end >= start, and it is at most `max_answer_length` tokens long; only the `n_best` largest start and end logits of
each window are combined, which keeps the search linear in window length while losing nothing of consequence.

SQuAD v2: the "no answer" score of a window is start_logit[0] + end_logit[0] (the CLS token, at index 0 with right
padding as in BERT); the question's null score is the smallest over its windows (the window most confident there is an
answer decides), and the prediction is "" when null score - best span score > `null_threshold`.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


def _rows(table: Any) -> Iterable[Mapping[str, Any]]:
    """Iterate a `datasets.Dataset`, a list of dicts, or a dict of columns as rows."""
    if isinstance(table, Mapping):
        columns = list(table)
        return (dict(zip(columns, values)) for values in zip(*(table[c] for c in columns)))
    return iter(table)


def _best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, offsets: Sequence, n_best: int, max_answer_length: int
) -> tuple[float, int, int] | None:
    """Best valid (score, start_char, end_char) of one window, or None when the window has no valid span."""
    length = min(len(offsets), len(start_logits), len(end_logits))
    start_candidates = np.argsort(start_logits[:length])[::-1][:n_best]
    end_candidates = np.argsort(end_logits[:length])[::-1][:n_best]
    best = None
    for start in start_candidates:
        for end in end_candidates:
            if offsets[start] is None or offsets[end] is None:
                continue
            if end < start or end - start + 1 > max_answer_length:
                continue
            score = float(start_logits[start] + end_logits[end])
            if best is None or score > best[0]:
                best = (score, int(offsets[start][0]), int(offsets[end][1]))
    return best


def postprocess_predictions(
    examples: Any,
    features: Any,
    start_logits: Sequence | np.ndarray,
    end_logits: Sequence | np.ndarray,
    n_best: int = 20,
    max_answer_length: int = 30,
    version_2: bool = False,
    null_threshold: float = 0.0,
) -> dict[str, str]:
    """Return {example id: predicted answer text} for every example.

    `examples` needs "id" and "context" (the rows the features were built from); `features` needs "example_id" and
    "offset_mapping" as made by `prepare_validation_features`. `start_logits[i]` / `end_logits[i]` belong to
    `features[i]`: an array of shape (n_features, seq_len) or a list of 1-D arrays (windows of different lengths;
    positions past a window's offsets, e.g. batch padding, are ignored). An example without any valid span is
    answered "" (as is one whose v2 null score wins); an example without any feature is an error.
    """
    if n_best < 1 or max_answer_length < 1:
        raise ValueError(f"n_best and max_answer_length must be >= 1, got {n_best} and {max_answer_length}")
    feature_rows = list(_rows(features))
    if len(start_logits) != len(feature_rows) or len(end_logits) != len(feature_rows):
        raise ValueError(
            f"got {len(start_logits)} start and {len(end_logits)} end logit rows for {len(feature_rows)} features"
        )
    windows_of: dict[str, list[int]] = defaultdict(list)
    for i, feature in enumerate(feature_rows):
        windows_of[feature["example_id"]].append(i)

    predictions: dict[str, str] = {}
    for example in _rows(examples):
        example_id, context = example["id"], example["context"]
        if example_id in predictions:
            raise ValueError(f"duplicate example id {example_id!r} in examples")
        if example_id not in windows_of:
            raise ValueError(f"example {example_id!r} has no features: were the features built from these examples?")
        best = None
        null_score = None
        for i in windows_of[example_id]:
            starts = np.asarray(start_logits[i], dtype=np.float64)
            ends = np.asarray(end_logits[i], dtype=np.float64)
            window_null = float(starts[0] + ends[0])
            null_score = window_null if null_score is None else min(null_score, window_null)
            candidate = _best_span(starts, ends, feature_rows[i]["offset_mapping"], n_best, max_answer_length)
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best = candidate
        if best is None:
            predictions[example_id] = ""
        elif version_2 and null_score is not None and null_score - best[0] > null_threshold:
            predictions[example_id] = ""
        else:
            predictions[example_id] = context[best[1] : best[2]]
    return predictions
