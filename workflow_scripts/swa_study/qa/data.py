"""Load SQuAD as a `datasets.DatasetDict` in the Hub schema of `rajpurkar/squad`.

Offline, only the official v1.1 development file exists (48 articles, 10,570 questions), so a local study must cut it
into a training part and an evaluation part. The cut is made BY ARTICLE: the questions of one article share its
paragraphs (often asking about the same sentence), so a question-level split would let the model see the evaluation
contexts - and frequently the very answer spans - during training, inflating the scores.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import datasets

# The column types of the Hub's `rajpurkar/squad` (and `squad_v2`), so offline and Hub data are interchangeable.
SQUAD_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": {
            "text": datasets.List(datasets.Value("string")),
            "answer_start": datasets.List(datasets.Value("int32")),
        },
    }
)


def load_squad_hub(path: str, config: str | None, splits: dict[str, str]) -> datasets.DatasetDict:
    """A SQuAD-schema dataset from the Hub (`rajpurkar/squad`, `rajpurkar/squad_v2`, or one of the same shape),
    with its splits renamed to ours ({"train": ..., "validation": ...})."""
    return datasets.DatasetDict({ours: datasets.load_dataset(path, config, split=theirs) for ours, theirs in splits.items()})


def load_squad_file(path: str) -> datasets.Dataset:
    """Every question of an official-format SQuAD json, in file order (for a task with its own train/dev files)."""
    rows = [row for article in _read_articles(path) for row in article["rows"]]
    if not rows:
        raise ValueError(f"{path}: no questions (field 'qas' empty in every article)")
    return datasets.Dataset.from_dict({key: [row[key] for row in rows] for key in SQUAD_FEATURES}, features=SQUAD_FEATURES)


def _field(obj: Any, key: str, kind: type, path: str, where: str) -> Any:
    """Return obj[key] if it has the expected type; otherwise raise a one-line ValueError naming file and field."""
    if not isinstance(obj, dict) or key not in obj:
        raise ValueError(f"{path}: malformed SQuAD json, missing field '{where}.{key}'")
    value = obj[key]
    # bool is an int subclass; a true/false answer_start is a corrupt file, not an offset.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{path}: malformed SQuAD json, field '{where}.{key}' is not a {kind.__name__}")
    return value


def _read_articles(path: str) -> list[dict[str, Any]]:
    """Parse the official json and return one dict per article: {"title": str, "rows": [Hub-schema rows]}."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: SQuAD json file not found")
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        message = str(error).splitlines()[0]
        raise ValueError(f"{path}: not valid JSON ({message}), so field 'data' cannot be read") from None
    articles = []
    for a, article in enumerate(_field(raw, "data", list, path, "root")):
        title = _field(article, "title", str, path, f"data[{a}]")
        rows = []
        for p, paragraph in enumerate(_field(article, "paragraphs", list, path, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", str, path, where)
            for q, qa in enumerate(_field(paragraph, "qas", list, path, where)):
                qwhere = f"{where}.qas[{q}]"
                answers = _field(qa, "answers", list, path, qwhere)
                texts = [_field(ans, "text", str, path, f"{qwhere}.answers[{i}]") for i, ans in enumerate(answers)]
                starts = [_field(ans, "answer_start", int, path, f"{qwhere}.answers[{i}]") for i, ans in enumerate(answers)]
                rows.append(
                    {
                        "id": _field(qa, "id", str, path, qwhere),
                        "title": title,
                        "context": context,  # not stripped: answer_start counts leading blanks too
                        "question": _field(qa, "question", str, path, qwhere),
                        "answers": {"text": texts, "answer_start": starts},
                    }
                )
        articles.append({"title": title, "rows": rows})
    if not articles:
        raise ValueError(f"{path}: malformed SQuAD json, field 'data' holds no articles")
    return articles


def _check_count(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


def load_squad_offline(
    path: str, train_articles: int | None, eval_articles: int | None, seed: int
) -> datasets.DatasetDict:
    """Split the articles of an official SQuAD json into disjoint "train" and "validation" parts.

    The article order is shuffled with `random.Random(seed)`; "validation" takes the first `eval_articles` articles
    of that order and "train" the next `train_articles`. Carving validation first means that, for one seed and one
    `eval_articles`, the evaluation set never changes and training sets of growing size are nested - what a
    learning-curve or method comparison needs.

    None means "all the rest": `eval_articles=None` gives validation every article not used for training,
    `train_articles=None` gives train every article not used for validation. Both None is ambiguous and rejected.

    Rows follow the Hub schema of `rajpurkar/squad`, and keep the file order within each split (article by
    article), so the same articles give the same row order whatever the seed.

    Raises ValueError (one line, naming the file and field) when the file is missing or malformed, when the request
    needs more articles than the file has, or when a split would be empty.
    """
    _check_count("train_articles", train_articles)
    _check_count("eval_articles", eval_articles)
    if train_articles is None and eval_articles is None:
        raise ValueError("train_articles and eval_articles cannot both be None: give the size of at least one split")
    articles = _read_articles(path)
    n = len(articles)
    n_eval = n - train_articles if eval_articles is None else eval_articles
    n_train = n - n_eval if train_articles is None else train_articles
    if n_eval < 1 or n_train < 1:
        raise ValueError(f"{path}: field 'data' has {n} articles, too few for a train and a validation split")
    if n_eval + n_train > n:
        raise ValueError(f"{path}: field 'data' has {n} articles, fewer than the {n_train} + {n_eval} requested")

    order = list(range(n))
    random.Random(seed).shuffle(order)
    eval_idx = sorted(order[:n_eval])
    train_idx = sorted(order[n_eval : n_eval + n_train])

    splits = {}
    for split, indices in (("train", train_idx), ("validation", eval_idx)):
        rows = [row for i in indices for row in articles[i]["rows"]]
        if not rows:
            raise ValueError(f"{path}: split '{split}' has no questions (field 'qas' empty in its articles)")
        columns = {key: [row[key] for row in rows] for key in SQUAD_FEATURES}
        splits[split] = datasets.Dataset.from_dict(columns, features=SQUAD_FEATURES)
    return datasets.DatasetDict(splits)
