"""SQuAD exact match and F1 as a local `evaluate` metric, so scoring needs no download from the Hub.

Load it with `evaluate.load("/abs/path/to/metric_modules/squad_local")`. The scoring follows the official scripts:
SQuAD v1.1 `evaluate-v1.1.py` and SQuAD v2.0 `evaluate-v2.0.py` (without their no-answer threshold search, as the
predictions given here are already final strings). Scores are percentages (0..100) like the official output.

evaluate copies this file into its module cache and checks each import line, so the pure-Python scoring lives here
in full, one import per line; `swa_study.qa.squad_metric` re-exports the functions for direct use.
"""
import collections
import re
import string

import datasets
import evaluate

_CITATION = """\
@inproceedings{rajpurkar-etal-2016-squad,
  title={SQuAD: 100,000+ Questions for Machine Comprehension of Text},
  author={Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy},
  booktitle={EMNLP}, year={2016}
}
"""

_DESCRIPTION = """\
Exact match and token F1 of extractive QA answers after the official SQuAD normalisation (lower-case, no
punctuation, no articles a/an/the, single spaces), each the maximum over the gold answers of a question.
With version_2=True an empty gold list marks an unanswerable question, whose only correct prediction is the
empty string, and the scores are also reported for the answerable (HasAns_*) and unanswerable (NoAns_*) parts.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of {"id": str, "prediction_text": str}.
    references: list of {"id": str, "answers": {"text": [str, ...], "answer_start": [int, ...]}}, the same ids.
    version_2: score SQuAD v2 (unanswerable questions allowed); default False.
Returns:
    {"exact_match": float, "f1": float} in 0..100; with version_2 also "total" and, for each non-empty part,
    "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total" (the official names).
"""

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text):
    """Lower-case, drop punctuation and the articles a/an/the, and collapse white-space (the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction, ground_truth):
    """1.0 when both strings are equal after normalisation, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction, ground_truth, empty_matches_empty=False):
    """Token-level F1 (bag of normalised tokens) between two answers, in 0..1.

    The v1.1 script scores 0 whenever no token is shared, even when both sides normalise to nothing; the v2.0 script
    gives 1 when both are empty (a correct "no answer") and 0 when only one is: `empty_matches_empty` picks the v2 rule.
    """
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    if empty_matches_empty and (not prediction_tokens or not truth_tokens):
        return float(prediction_tokens == truth_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions, gold_answers, version_2=False):
    """Score {id: prediction text} against {id: [gold texts]}; both must have exactly the same ids.

    v1: every question needs at least one gold answer. v2: gold answers that normalise to nothing are dropped (as
    the official script does), and a question left without any is unanswerable, matched only by "".
    """
    if set(predictions) != set(gold_answers):
        missing = len(set(gold_answers) - set(predictions))
        extra = len(set(predictions) - set(gold_answers))
        raise ValueError(f"prediction ids differ from reference ids: {missing} missing, {extra} unknown")
    if not gold_answers:
        raise ValueError("no questions to score")
    exact = {}
    f1 = {}
    has_answer = {}
    for qid, golds in gold_answers.items():
        prediction = predictions[qid]
        if version_2:
            has_answer[qid] = bool(golds)
            golds = [gold for gold in golds if normalize_answer(gold)] or [""]
        elif not golds:
            raise ValueError(f"question {qid!r} has no gold answer; score SQuAD v2 data with version_2=True")
        exact[qid] = max(exact_match_score(prediction, gold) for gold in golds)
        f1[qid] = max(f1_score(prediction, gold, empty_matches_empty=version_2) for gold in golds)
    total = len(gold_answers)
    result = {"exact_match": 100.0 * sum(exact.values()) / total, "f1": 100.0 * sum(f1.values()) / total}
    if version_2:
        result["total"] = total
        for name, wanted in (("HasAns", True), ("NoAns", False)):
            ids = [qid for qid in gold_answers if has_answer[qid] == wanted]
            if ids:
                result[f"{name}_exact"] = 100.0 * sum(exact[qid] for qid in ids) / len(ids)
                result[f"{name}_f1"] = 100.0 * sum(f1[qid] for qid in ids) / len(ids)
                result[f"{name}_total"] = len(ids)
    return result


def _unique_map(rows, value, what):
    """{row["id"]: value(row)} refusing duplicate ids, which would silently drop a question."""
    mapping = {}
    for row in rows:
        if row["id"] in mapping:
            raise ValueError(f"duplicate id {row['id']!r} in {what}")
        mapping[row["id"]] = value(row)
    return mapping


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SquadLocal(evaluate.Metric):
    """SQuAD v1.1 / v2.0 exact match and F1 (see the module docstring)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                    "references": {
                        "id": datasets.Value("string"),
                        "answers": {
                            "text": datasets.List(datasets.Value("string")),
                            "answer_start": datasets.List(datasets.Value("int32")),
                        },
                    },
                }
            ),
            reference_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
        )

    def _compute(self, predictions, references, version_2=False):
        predicted = _unique_map(predictions, lambda row: row["prediction_text"], "predictions")
        gold = _unique_map(references, lambda row: list(row["answers"]["text"]), "references")
        return squad_scores(predicted, gold, version_2=version_2)
