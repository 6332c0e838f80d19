"""End-to-end: the real Snakefile on tiny QA (SQuAD format) and generation (CommonGen format) tasks.

The same DAG, methods and MLflow mirror as the classification study: a span head for QA with KD on the cached
start/end logits, a warm-started BERT2BERT for generation with word-level KD from the teacher run live.
"""
import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from test_pipeline import job_counts
from tiny_study import build_mirror, run_snakemake, tiny_config

TASKS = ["squad", "commongen"]
SEEDS = {"squad": [1, 2], "commongen": [1]}  # generation, the slowest family, on one seed
METHODS = ["finetune", "swa", "kd", "swa_kd"]
RUNS = len(METHODS) * sum(len(seeds) for seeds in SEEDS.values())


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("families")
    mirror = build_mirror(workdir / "mirror")
    config = tiny_config(
        mirror, study="tiny-families", tasks=TASKS, methods=[*METHODS, "rail_kd"], seeds=SEEDS["squad"],
        seeds_by_task={"commongen": SEEDS["commongen"]},
        qa={"doc_stride": 8, "train_articles": 4, "eval_articles": 2},
        generation={"max_target_length": 16, "num_beams": 2, "max_new_tokens": 8},
    )
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def read_run(workdir, task, method, seed):
    run = workdir / "results" / "runs" / task / method / f"seed{seed}"
    return (json.loads((run / "metrics.json").read_text()), json.loads((run / "train_info.json").read_text()),
            pd.read_csv(run / "predictions.tsv", sep="\t", keep_default_na=False))


def test_every_family_runs_through_the_same_dag(study):
    workdir, _, result = study
    assert "note: rail_kd not defined for squad (qa); skipped" in result.stderr
    # QA distils from cached start/end logits (teacher_logits job); generation runs its teacher live (no job).
    assert job_counts(result.stderr) == {"prepare_data": 4, "train_teacher": 2, "teacher_logits": 1,
                                         "train_student": RUNS, "evaluate": RUNS, "aggregate": 1, "calibration": 1,
                                         "mlflow_sync": 1,
                                         "analyse_flatness": RUNS, "flatness_tables": 1, "plot_flatness": 2,
                                         "plot_task": 2, "all": 1}
    for method in METHODS:
        for seed in SEEDS["squad"]:
            metrics, info, predictions = read_run(workdir, "squad", method, seed)
            assert metrics["main_metric"] == "f1" and set(metrics["validation"]) == {"exact_match", "f1"}
            assert 0 <= metrics["validation"]["exact_match"] <= metrics["validation"]["f1"] <= 1
            assert len(predictions) == 12  # 2 evaluation articles x 2 paragraphs x 3 questions
            assert predictions.label.str.fullmatch(r"(\w+) \| \1").all()  # both gold answers kept
        for seed in SEEDS["commongen"]:
            metrics, info, predictions = read_run(workdir, "commongen", method, seed)
            assert set(metrics["validation"]) == {"rouge1", "rouge2", "rougeL", "bleu"}
            assert all(0 <= value <= 1 for value in metrics["validation"].values())
            assert len(predictions) == 12 and (predictions.label.str.count(r" \| ") == 1).all()
    _, info, _ = read_run(workdir, "commongen", "swa", 1)
    assert info["compute"]["swa_models_averaged"] == len(info["compute"]["swa_collected_steps"]) >= 2
    logits = __import__("numpy").load(workdir / "results" / "teacher" / "squad" / "train_logits.npz")
    assert logits["logits"].ndim == 3 and logits["logits"].shape[1] == 2  # (windows, start/end, window length)
    summary = pd.read_csv(workdir / "results" / "tables" / "summary.csv")
    assert list(summary.method) == METHODS and list(summary.squad_n) == [2] * 4 and list(summary.commongen_n) == [1] * 4


def test_kd_on_generation_learns_from_the_teacher_run_live(study):
    """Word-level KD: same steps as finetune but a different loss, so a different model from the same seed."""
    workdir, _, _ = study
    finetune, kd = read_run(workdir, "commongen", "finetune", 1)[1], read_run(workdir, "commongen", "kd", 1)[1]
    assert finetune["compute"]["optimizer_steps"] == kd["compute"]["optimizer_steps"]
    assert finetune["compute"]["train_loss"] != kd["compute"]["train_loss"]


def test_mlflow_holds_every_family_run(study):
    workdir, _, _ = study
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny-families")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    children = [r for r in runs if r.data.tags.get("kind") == "seed"]
    assert len(children) == RUNS
    squad = [r for r in children if r.data.tags["task"] == "squad"]
    assert all("validation_f1" in r.data.metrics and "validation_exact_match" in r.data.metrics for r in squad)
    commongen = [r for r in children if r.data.tags["task"] == "commongen"]
    assert all("validation_rougeL" in r.data.metrics and "validation_bleu" in r.data.metrics for r in commongen)


def test_rerun_reproduces_the_metrics(study):
    workdir, config, _ = study
    last = {task: SEEDS[task][-1] for task in TASKS}
    before = {task: read_run(workdir, task, "swa_kd", last[task])[0]["validation"] for task in TASKS}
    targets = [f"results/runs/{task}/swa_kd/seed{last[task]}/metrics.json" for task in TASKS]
    result = run_snakemake(workdir, config, "--forcerun", "train_student", "--", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stderr)["train_student"] == 2
    assert {task: read_run(workdir, task, "swa_kd", last[task])[0]["validation"] for task in TASKS} == before


def test_flatness_analysis_covers_span_and_seq2seq_models(study):
    """The losses of losses.py serve every family, so QA and generation runs get the same measures; their line
    has the training loss only (span search or beam search at every alpha would cost more than the run)."""
    workdir, _, _ = study
    for task in TASKS:
        swa = json.loads((workdir / "results" / "analysis" / task / "swa" / "seed1" / "flatness.json").read_text())
        finetune = json.loads((workdir / "results" / "analysis" / task / "finetune" / "seed1" / "flatness.json").read_text())
        assert swa["hessian"]["top_eigenvalue"] > 0 and len(swa["perturbation"]["losses"]) == 2
        points = {p["alpha"]: p for p in swa["interpolation"]["points"]}
        assert set(points[0.0]) == {"alpha", "train_loss"}
        assert points[0.0]["train_loss"] == pytest.approx(finetune["loss"], rel=1e-5)
        assert points[1.0]["train_loss"] == pytest.approx(swa["loss"], rel=1e-5)
