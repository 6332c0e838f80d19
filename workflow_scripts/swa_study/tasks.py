"""What each task is: where its data lives (Hub and offline mirror), its columns, label space and metrics.

A task is data, not code: adding a GLUE-style task is one more `TaskSpec` entry. Every loader turns the raw files
into the same canonical columns, `text_a`, `text_b` (None for single-sentence tasks), `label`, so that the rest of
the pipeline never looks at a dataset's own column names.

Each task belongs to a family (families.py): "classification" (GLUE, STS-B), "qa" (extractive, SQuAD) or
"generation" (concepts -> text, CommonGen). The family decides how data is prepared, which head the model gets and
how a run is scored; the methods, the Trainer set-up and the tracking are the same for all three.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LocalFiles:
    """An offline copy of a task: files under the mirror folder, read with pandas' CSV reader through `datasets`."""

    folder: str  # relative to the mirror root
    files: dict[str, str]  # split name -> file name inside `folder`
    text_a: str
    text_b: str | None
    label: str
    column_names: tuple[str, ...] | None = None  # for files without a header row
    label_map: dict[str, int] | None = None  # string labels -> class ids


@dataclass(frozen=True)
class HubSource:
    path: str
    config: str | None
    splits: dict[str, str]  # our split name -> the Hub dataset's split name
    text_a: str
    text_b: str | None
    label: str = "label"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    num_labels: int  # 1 means regression; 2 for QA (start, end); 0 for generation (the vocabulary)
    metrics: tuple[str, ...]  # names of the local metric modules to compute
    main_metric: str  # the one number per task in the summary table
    hub: HubSource
    local: LocalFiles | None = None
    labelled_test: bool = False  # evaluate on the test split too (its labels are public)
    # Regression targets are divided by this for training and predictions multiplied back for scoring: a head
    # starting near 0 reaches 0..1 targets in a few steps, but 0..5 ones (STS-B) take most of a short budget.
    label_scale: float = 1.0
    family: str = "classification"
    version_2: bool = False  # SQuAD v2: unanswerable questions, scored with the no-answer split
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1


_GLUE_SPLITS = {"train": "train", "validation": "validation"}


def _glue(name: str, text_a: str, text_b: str | None = None, splits: dict[str, str] = _GLUE_SPLITS) -> HubSource:
    return HubSource(path="nyu-mll/glue", config=name, splits=splits, text_a=text_a, text_b=text_b)


_GLUE_TSV = {"train": "train.tsv", "validation": "dev.tsv"}

TASKS: dict[str, TaskSpec] = {
    "sst2": TaskSpec(
        name="sst2", num_labels=2, metrics=("accuracy",), main_metric="accuracy",
        hub=_glue("sst2", "sentence"),
        local=LocalFiles("glue_data/SST-2", _GLUE_TSV, text_a="sentence", text_b=None, label="label"),
    ),
    "cola": TaskSpec(
        name="cola", num_labels=2, metrics=("matthews_correlation",), main_metric="matthews_correlation",
        hub=_glue("cola", "sentence"),
        local=LocalFiles("glue_data/CoLA", _GLUE_TSV, text_a="sentence", text_b=None, label="label",
                         column_names=("source", "label", "original_label", "sentence")),
    ),
    "rte": TaskSpec(
        name="rte", num_labels=2, metrics=("accuracy",), main_metric="accuracy",
        hub=_glue("rte", "sentence1", "sentence2"),
        local=LocalFiles("glue_data/RTE", _GLUE_TSV, text_a="sentence1", text_b="sentence2", label="label",
                         label_map={"entailment": 0, "not_entailment": 1}),
    ),
    "stsb": TaskSpec(
        name="stsb", num_labels=1, metrics=("pearsonr", "spearmanr"), main_metric="pearsonr",
        hub=_glue("stsb", "sentence1", "sentence2"),
        local=LocalFiles(
            "stsbenchmark", {"train": "sts-train.csv", "validation": "sts-dev.csv", "test": "sts-test.csv"},
            text_a="sentence1", text_b="sentence2", label="score",
            column_names=("genre", "file", "year", "id", "score", "sentence1", "sentence2"),
        ),
        labelled_test=True, label_scale=5.0,
    ),
    "squad": TaskSpec(  # offline: the v1.1 dev file split by article (qa/data.py); Hub: the official train/dev
        name="squad", num_labels=2, metrics=("exact_match", "f1"), main_metric="f1", family="qa",
        hub=HubSource("rajpurkar/squad", None, _GLUE_SPLITS, text_a="question", text_b="context", label="answers"),
        local=LocalFiles("squad", {"train": "dev-v1.1.json", "validation": "dev-v1.1.json"},
                         text_a="question", text_b="context", label="answers"),
    ),
    "squad_v2": TaskSpec(
        name="squad_v2", num_labels=2, metrics=("exact_match", "f1"), main_metric="f1", family="qa", version_2=True,
        hub=HubSource("rajpurkar/squad_v2", None, _GLUE_SPLITS, text_a="question", text_b="context", label="answers"),
    ),
    "commongen": TaskSpec(  # concept set -> sentence; dev scored against all references of a concept set
        name="commongen", num_labels=0, metrics=("rouge1", "rouge2", "rougeL", "bleu"), main_metric="rougeL",
        family="generation",
        hub=HubSource("allenai/common_gen", None, _GLUE_SPLITS, text_a="concepts", text_b=None, label="target"),
        local=LocalFiles("commongen", {"train": "commongen.train.src_alpha.txt", "validation": "commongen.dev.src_alpha.txt"},
                         text_a="concepts", text_b=None, label="target"),
    ),
    "mrpc": TaskSpec(
        name="mrpc", num_labels=2, metrics=("f1", "accuracy"), main_metric="f1",
        hub=_glue("mrpc", "sentence1", "sentence2"),
    ),
    "qqp": TaskSpec(
        name="qqp", num_labels=2, metrics=("f1", "accuracy"), main_metric="accuracy",
        hub=_glue("qqp", "question1", "question2"),
    ),
    "mnli": TaskSpec(
        name="mnli", num_labels=3, metrics=("accuracy",), main_metric="accuracy",
        hub=_glue("mnli", "premise", "hypothesis", {"train": "train", "validation": "validation_matched"}),
    ),
    "qnli": TaskSpec(
        name="qnli", num_labels=2, metrics=("accuracy",), main_metric="accuracy",
        hub=_glue("qnli", "question", "sentence"),
    ),
}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
