"""ROUGE-1/2/L and corpus BLEU against multiple references, as a local `evaluate` metric.

Load it with `evaluate.load("/abs/path/to/metric_modules/rouge_bleu_local")`; nothing is fetched from the Hub.
ROUGE comes from Google's `rouge-score` package and BLEU from `sacrebleu`, so numbers match those reference
implementations rather than a re-implementation. All scores are percentages (0..100).

Multi-reference handling (CommonGen has 2-8 human sentences per concept set, each a different valid scene):
* ROUGE: for each prediction the F-measure against every reference is computed and the best one kept
  (`RougeScorer.score_multi`, chosen per ROUGE type), then the per-prediction scores are averaged. Taking the
  maximum credits a prediction for matching any one acceptable sentence; averaging over references would
  penalise it for differing from the other, equally valid scenes. The plain mean over predictions (instead of
  rouge-score's BootstrapAggregator) keeps the value deterministic; the bootstrap's mid estimate is a
  resampled approximation of the same mean.
* BLEU: one corpus-level BLEU with all references of each item (n-gram counts clipped by the maximum count in
  any reference, brevity penalty from the closest reference length), the standard multi-reference BLEU. Items
  may have different numbers of references: the reference streams are padded with None, which sacrebleu skips.

evaluate copies this file into its module cache and reads its import lines to find dependencies, so each
module is imported on a line of its own below.
"""
import datasets
import evaluate
import sacrebleu
from rouge_score import rouge_scorer

_CITATION = """\
@inproceedings{lin-2004-rouge,
  title={ROUGE: A Package for Automatic Evaluation of Summaries}, author={Lin, Chin-Yew},
  booktitle={Text Summarization Branches Out}, year={2004}
}
@inproceedings{post-2018-call,
  title={A Call for Clarity in Reporting BLEU Scores}, author={Post, Matt},
  booktitle={WMT}, year={2018}
}
"""

_DESCRIPTION = """\
ROUGE-1, ROUGE-2 and ROUGE-L F-measure (rouge-score; best reference per prediction, averaged over predictions)
and corpus BLEU (sacrebleu; all references of each item at once). Scores in 0..100.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of generated strings.
    references: list of lists of reference strings, one non-empty list per prediction; lengths may differ.
    use_stemmer: apply the Porter stemmer in ROUGE tokenisation (default False, like evaluate's "rouge").
    bleu_tokenize: sacrebleu tokenizer name (default "13a", sacrebleu's default).
    lowercase: lowercase before BLEU (default False; ROUGE always lowercases).
Returns:
    {"rouge1": float, "rouge2": float, "rougeL": float, "bleu": float}, each in 0..100.
"""

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def _check_references(references: list[list[str]]) -> None:
    """Reject items without references or with blank ones: both would silently distort the scores."""
    for index, refs in enumerate(references):
        if len(refs) == 0:
            raise ValueError(f"Item {index} has no references.")
        if any(ref is None or not ref.strip() for ref in refs):
            raise ValueError(f"Item {index} has an empty reference.")


def rouge_max_over_references(
    predictions: list[str], references: list[list[str]], use_stemmer: bool = False
) -> dict[str, float]:
    """Mean over predictions of the best per-reference ROUGE F-measure, for each ROUGE type, in 0..100."""
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, refs in zip(predictions, references):
        best = scorer.score_multi(list(refs), prediction)
        for rouge_type in ROUGE_TYPES:
            totals[rouge_type] += best[rouge_type].fmeasure
    count = max(len(predictions), 1)
    return {rouge_type: 100.0 * total / count for rouge_type, total in totals.items()}


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Transpose per-item reference lists into sacrebleu's streams, padding short items with None."""
    width = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def corpus_bleu_multi(
    predictions: list[str], references: list[list[str]], tokenize: str = "13a", lowercase: bool = False
) -> float:
    """Corpus BLEU (0..100) of the predictions against all references of each item."""
    result = sacrebleu.corpus_bleu(
        list(predictions), reference_streams(references), tokenize=tokenize, lowercase=lowercase
    )
    return result.score


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RougeBleuLocal(evaluate.Metric):
    """ROUGE-1/2/L (max over references) and multi-reference corpus BLEU."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            codebase_urls=[
                "https://github.com/google-research/google-research/tree/master/rouge",
                "https://github.com/mjpost/sacrebleu",
            ],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[list[str]],
        use_stemmer: bool = False,
        bleu_tokenize: str = "13a",
        lowercase: bool = False,
    ) -> dict[str, float]:
        if len(predictions) == 0:
            raise ValueError("No predictions to score.")
        references = [list(refs) for refs in references]
        _check_references(references)
        scores = rouge_max_over_references(predictions, references, use_stemmer=use_stemmer)
        scores["bleu"] = corpus_bleu_multi(predictions, references, tokenize=bleu_tokenize, lowercase=lowercase)
        return scores
