"""End-to-end: the architecture matrix, one shared tiny classification study through the real Snakefile.

One task per student architecture (RoBERTa, DeBERTa-v2, GPT-2, Llama; BERT is every other test's), each with
finetune, swa and kd on one seed and the flatness analysis of every run, and each KD from a teacher of another
architecture (DistilBERT and GPT-2 teach encoders, RoBERTa and BERT the decoders: cached-logit KD needs no shared
vocabulary). DistilBERT trains and predicts as a teacher only, which keeps the study at four tasks. The decoders
ship without a pad token, as GPT-2 and Llama do on the Hub. data.max_length is 8, so the sentence pairs are cut and
the single sentences are not: the truncation warning must name exactly the pair tasks.
"""
import json
import math
import re
from pathlib import Path

import pytest
import yaml

from test_pipeline import job_counts
from tiny_architectures import build_architecture
from tiny_study import REPO, build_model, run_snakemake, tiny_config, write_sst2, write_stsb

METHODS = ["finetune", "swa", "kd"]
# task: (built-in definition it copies, student, teacher)
MATRIX = {
    "arch_roberta": ("sst2", "tiny-roberta", "tiny-distilbert"),
    "arch_deberta": ("stsb", "tiny-deberta-v2", "tiny-gpt2"),
    "arch_gpt2": ("stsb", "tiny-gpt2", "tiny-roberta"),
    "arch_llama": ("sst2", "tiny-llama", "tiny-teacher"),
}
PAIR_TASKS = {task for task, (definition, _, _) in MATRIX.items() if definition == "stsb"}


def matrix_mirror(root: Path) -> Path:
    import random

    rng = random.Random(0)
    build_model(root / "models" / "tiny-teacher", layers=2, seed=0)
    for kind in ("roberta", "distilbert", "deberta-v2", "gpt2", "llama"):
        build_architecture(root / "models" / f"tiny-{kind}", kind, layers=1, seed=1)
    write_sst2(root / "glue_data" / "SST-2", {"train": 56, "validation": 24}, rng)
    write_stsb(root / "stsbenchmark", {"train": 56, "validation": 24, "test": 24}, rng)
    return root


def matrix_config(mirror: Path, **overrides) -> dict:
    builtins = yaml.safe_load((REPO / "config" / "tasks.yaml").read_text())
    settings = dict(
        study="tiny-architectures", tasks=list(MATRIX), methods=METHODS, seeds=[1],
        task_definitions={task: builtins[definition] for task, (definition, _, _) in MATRIX.items()},
        models={"teacher": "tiny-teacher", "student": "tiny-student",
                "by_task": {task: {"student": student, "teacher": teacher}
                            for task, (_, student, teacher) in MATRIX.items()}},
        data={"max_length": 8, "heldout_size": 8})
    return tiny_config(mirror, **{**settings, **overrides})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("architectures")
    mirror = matrix_mirror(workdir / "mirror")
    config = matrix_config(mirror)
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def run_file(workdir: Path, task: str, method: str, name: str) -> dict:
    return json.loads((workdir / "results" / "runs" / task / method / "seed1" / name).read_text())


def test_every_architecture_trains_and_scores_with_every_method(study):
    workdir, _, result = study
    runs = len(MATRIX) * len(METHODS)
    counts = job_counts(result.stderr)
    assert {rule: counts[rule] for rule in ("prepare_data", "train_teacher", "teacher_logits", "train_student",
                                            "evaluate", "analyse_flatness")} == {
        "prepare_data": 2 * len(MATRIX), "train_teacher": len(MATRIX), "teacher_logits": len(MATRIX),
        "train_student": runs, "evaluate": runs, "analyse_flatness": runs}
    for task in MATRIX:
        for method in METHODS:
            metrics = run_file(workdir, task, method, "metrics.json")
            assert all(math.isfinite(value) for value in metrics["validation"].values()), (task, method)
        finetune, kd = (run_file(workdir, task, m, "train_info.json")["compute"] for m in ("finetune", "kd"))
        assert finetune["optimizer_steps"] == kd["optimizer_steps"] and finetune["train_loss"] != kd["train_loss"]


def test_decoders_pad_with_their_end_of_sequence_token_and_record_it(study):
    workdir, _, _ = study
    expected = {"arch_gpt2": ("<|endoftext|>", "right"), "arch_llama": ("</s>", "left")}
    for task, (eos, side) in expected.items():
        inputs = run_file(workdir, task, "swa", "train_info.json")["inputs"]
        assert inputs["pad_token"] == inputs["pair_separator"] == eos and inputs["padding_side"] == side
        saved = json.loads((workdir / "results" / "runs" / task / "swa" / "seed1" / "model" / "config.json").read_text())
        assert saved["pad_token_id"] == inputs["pad_token_id"]  # the head pools at the last token that is not this
    for task in ("arch_roberta", "arch_deberta"):
        inputs = run_file(workdir, task, "finetune", "train_info.json")["inputs"]
        assert inputs["pad_token"] == "[PAD]" and inputs["pair_separator"] is None  # the tokenizer joins pairs


def test_the_truncation_warning_names_exactly_the_pair_tasks(study):
    workdir, _, result = study
    warned = {task for task in MATRIX
              if re.search(rf"warning: task {task!r}: \d+ of \d+ train rows .* longer than max_length 8", result.stderr)}
    assert warned == PAIR_TASKS
    info = json.loads((workdir / "results" / "data" / "arch_gpt2" / "tiny-gpt2" / "info.json").read_text())
    assert info["truncated"]["train"] == info["rows"]["train"] == 48  # every pair is longer than 8 tokens


def test_the_flatness_analysis_runs_on_every_architecture(study):
    workdir, _, _ = study
    for task in MATRIX:
        for method in METHODS:
            flatness = json.loads((workdir / "results" / "analysis" / task / method / "seed1" / "flatness.json").read_text())
            assert math.isfinite(flatness["hessian"]["top_eigenvalue"]), (task, method)
            assert len(flatness["perturbation"]["losses"]) == 2


def test_a_teacher_that_reads_other_token_ids_is_refused_at_planning(study, tmp_path):
    """RAIL-KD runs the teacher on the student's token ids: a GPT-2 teacher for a BERT-vocabulary student is refused
    before any job, naming the config key, not after the teacher has trained."""
    workdir, _, _ = study
    config = matrix_config(workdir / "mirror", methods=["finetune", "rail_kd"], tasks=["arch_roberta"])
    config["models"]["by_task"] = {"arch_roberta": {"student": "tiny-roberta", "teacher": "tiny-gpt2"}}
    result = run_snakemake(tmp_path, config, "-n")
    assert result.returncode == 1
    assert "error: " in result.stderr and "models.by_task.arch_roberta.teacher: the teacher" in result.stderr
    assert "have different vocabularies, but rail_kd feed" in result.stderr
    assert not (tmp_path / "results").exists()
