"""SQuAD scoring for the pipeline: a dict-in, dict-out front to the local `evaluate` module `squad_local`.

The scoring code lives once, in `swa_study/metric_modules/squad_local/squad_local.py`, because `evaluate.load` copies
that single file into its cache and cannot follow imports into this package. This module loads the same file with
importlib to re-export its pure-Python functions (`normalize_answer`, `exact_match_score`, `f1_score`,
`squad_scores`), and `compute_squad` goes through `evaluate.load` so the pipeline scores exactly as the module does.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Mapping, Sequence

METRIC_DIR = Path(__file__).resolve().parents[1] / "metric_modules" / "squad_local"


def _load_scoring_module() -> Any:
    spec = importlib.util.spec_from_file_location("swa_study_squad_local", METRIC_DIR / "squad_local.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the SQuAD metric module from {METRIC_DIR}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_scoring = _load_scoring_module()
normalize_answer = _scoring.normalize_answer
exact_match_score = _scoring.exact_match_score
f1_score = _scoring.f1_score
squad_scores = _scoring.squad_scores


@functools.lru_cache(maxsize=1)
def load_squad_metric() -> Any:
    """The `evaluate` metric object of `squad_local` (loaded once per process; loading copies files to a cache)."""
    import evaluate

    return evaluate.load(str(METRIC_DIR))


def _gold_texts(answers: Mapping[str, Any] | Sequence[str]) -> tuple[list[str], list[int]]:
    """Accept Hub-style {"text": [...], "answer_start": [...]} or a plain list of gold texts."""
    if isinstance(answers, Mapping):
        texts = list(answers["text"])
        starts = list(answers.get("answer_start") or [-1] * len(texts))
    elif isinstance(answers, (list, tuple)):
        texts, starts = list(answers), [-1] * len(answers)
    else:
        raise ValueError(f"answers must be a dict with 'text' or a list of strings, got {type(answers).__name__}")
    return texts, starts


def compute_squad(
    predictions: Mapping[str, str], references: Mapping[str, Any], version_2: bool = False
) -> dict[str, float]:
    """Score {id: predicted text} against {id: answers} with the `squad_local` metric.

    `references[id]` is the Hub `answers` column value ({"text": [...], "answer_start": [...]}) or a list of gold
    texts; with `version_2` an empty list marks an unanswerable question. The id sets must be equal: a missing
    prediction is an error rather than a silent zero (or, worse, a free "no answer" in v2).
    Returns {"exact_match", "f1"} in 0..100, plus the HasAns_/NoAns_ breakdown and "total" for v2.
    """
    if set(predictions) != set(references):
        missing = len(set(references) - set(predictions))
        extra = len(set(predictions) - set(references))
        raise ValueError(f"prediction ids differ from reference ids: {missing} missing, {extra} unknown")
    ids = list(references)
    refs = []
    for qid in ids:
        texts, starts = _gold_texts(references[qid])
        refs.append({"id": qid, "answers": {"text": texts, "answer_start": starts}})
    preds = [{"id": qid, "prediction_text": predictions[qid]} for qid in ids]
    return load_squad_metric().compute(predictions=preds, references=refs, version_2=version_2)
