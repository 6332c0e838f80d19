"""End to end: the evidence of a tiny study through the real Snakefile: paired statistics and marks, compute
accounting with the teacher charged, the flatness analysis of every run, the plots, the HTML report (also opened
in headless Chromium) and the MLflow mirror of it all.

sst2 runs 3 seeds; stsb asks for 2 (`seeds_by_task`), so both shapes of a paired table are exercised.
"""
import json
import math
import re

import datasets
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from browser import inspect_report
from test_pipeline import job_counts
from tiny_study import build_mirror, run_snakemake, tiny_config

METHODS = ["finetune", "swa", "kd"]
SEEDS = {"sst2": [1, 2, 3], "stsb": [1, 2]}
RUNS = [(task, method, seed) for task, seeds in SEEDS.items() for method in METHODS for seed in seeds]
TABLES = ["summary.html", "significance.html", "compute.html", "flatness.html"]
FIGURES = ["scores.png", "training.png", "compute.png", "interpolation.png", "perturbation.png", "sharpness.png"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evidence")
    mirror = build_mirror(workdir / "mirror")
    config = tiny_config(mirror, study="tiny-evidence", methods=METHODS, seeds=SEEDS["sst2"],
                         seeds_by_task={"stsb": SEEDS["stsb"]})
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config, result


def results(workdir, *parts):
    return workdir.joinpath("results", *parts)


def read_json(path):
    return json.loads(path.read_text())


def test_every_run_is_analysed_and_every_figure_drawn(study):
    workdir, _, result = study
    counts = job_counts(result.stderr)
    assert counts["train_student"] == counts["analyse_flatness"] == len(RUNS) == 15
    assert counts["plot_task"] == counts["plot_flatness"] == counts["trivial_baseline"] == 2
    assert counts["flatness_tables"] == 1
    for task in SEEDS:
        for name in FIGURES:
            assert results(workdir, "plots", task, name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        for name in ("scores.svg", "sharpness.svg"):
            assert "<svg" in results(workdir, "plots", task, name).read_text()[:2000]


def test_significance_pairs_each_method_with_each_reference_by_seed(study):
    workdir, _, _ = study
    table = pd.read_csv(results(workdir, "tables", "significance.csv"))
    assert set(zip(table.task, table.reference, table.method)) == {
        (t, "finetune", "swa") for t in SEEDS} | {(t, "finetune", "kd") for t in SEEDS} | {
        (t, "swa", "finetune") for t in SEEDS} | {(t, "swa", "kd") for t in SEEDS}
    assert set(table[table.task == "sst2"].n) == {3} and set(table[table.task == "stsb"].n) == {2}
    runs = pd.read_csv(results(workdir, "tables", "runs.csv")).set_index(["task", "method", "seed"])
    row = table[(table.task == "sst2") & (table.reference == "finetune") & (table.method == "swa")].iloc[0]
    differences = [(runs.loc[("sst2", "swa", s), "score"] - runs.loc[("sst2", "finetune", s), "score"]) * 100
                   for s in SEEDS["sst2"]]
    assert row.difference == pytest.approx(sum(differences) / 3)
    # the paired Student-t interval: mean ± t_{0.975, 2} sd / sqrt 3
    half = stats.t.ppf(0.975, 2) * np.std(differences, ddof=1) / math.sqrt(3)
    assert (row.ci_low, row.ci_high) == pytest.approx((row.difference - half, row.difference + half), abs=1e-4)
    if any(differences):
        expected = stats.ttest_rel([runs.loc[("sst2", "swa", s), "score"] * 100 for s in SEEDS["sst2"]],
                                   [runs.loc[("sst2", "finetune", s), "score"] * 100 for s in SEEDS["sst2"]]).pvalue
    else:  # the same score on every seed (scipy's t is 0/0): no evidence of a difference, p = 1
        expected = 1.0
    assert row.p_ttest == pytest.approx(expected, rel=1e-4)
    assert table.testable.all() and table.mark.tolist() == (table.p_ttest_holm < 0.05).tolist()
    # 2-3 pairs: Wilcoxon cannot reach p < 0.05 and the bootstrap would be too narrow, so both are empty
    assert table[["p_wilcoxon", "p_wilcoxon_holm", "bootstrap_low", "bootstrap_high"]].isna().all().all()
    assert set(table.holm_family) == {f"{t} vs {r}" for t in SEEDS for r in ("finetune", "swa")}


def test_summary_marks_exactly_the_holm_adjusted_t_tests_that_pass(study):
    workdir, _, _ = study
    markdown = results(workdir, "tables", "summary.md").read_text()
    table = pd.read_csv(results(workdir, "tables", "significance.csv"))
    header, *rows = [line for line in markdown.splitlines() if line.startswith("| ")][: 2 + len(METHODS)]
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    for line in rows:
        cells = dict(zip(columns, (cell.strip() for cell in line.strip("|").split("|"))))
        for task in SEEDS:
            cell = cells[next(c for c in columns if c.startswith(task))]
            match = table[(table.task == task) & (table.reference == "finetune") & (table.method == cells["Method"])]
            expected = bool(len(match)) and bool(match.p_ttest_holm.iloc[0] < 0.05)
            assert cell.endswith("†") == expected, (task, cells["Method"], cell)
    assert "† the paired t-test of the difference to finetune (seed by seed), Holm-adjusted" in markdown
    assert "#### Paired differences to finetune" in markdown and "Student-t interval" in markdown
    assert re.search(r"Compute: swa vs finetune .*sst2 \d+\.\d\dx wall time, 1\.00x FLOPs", markdown)


def majority_floor(workdir, task):
    """The trivial baseline worked out here from the prepared data files: the majority class of the training
    rows, its dev accuracy x100 (regression: the mean score; a constant's correlation is reported as 0)."""
    folder = results(workdir, "data", task, "tiny-student")
    train, dev = (np.asarray(datasets.load_from_disk(str(folder / name))["label"]) for name in ("train", "validation"))
    if task == "stsb":
        return float(np.mean(np.round(train * 5.0, 6))), 0.0
    majority = np.bincount(train).argmax()
    return int(majority), float(np.mean(dev == majority) * 100)


def test_every_results_table_shows_the_trivial_baseline_first(study):
    workdir, _, _ = study
    floors = {task: majority_floor(workdir, task) for task in SEEDS}
    for task, (predicted, score) in floors.items():
        record = read_json(results(workdir, "baseline", task, "metrics.json"))
        assert record["predicts"]["value"] == pytest.approx(predicted)
        assert record["validation"][record["main_metric"]] * 100 == pytest.approx(score)
        assert ("test" in record) == (task == "stsb")  # scored on test where the task labels it
    markdown = results(workdir, "tables", "summary.md").read_text()
    first = [line for line in markdown.splitlines() if line.startswith("| ")][1]  # after the header
    average = (floors["sst2"][1] + floors["stsb"][1]) / 2
    assert first == f"| trivial (majority / mean) | {floors['sst2'][1]:.1f} | {floors['stsb'][1]:.1f} | {average:.1f} |"
    assert "a constant prediction carries no correlation" in markdown.lower()
    summary = pd.read_csv(results(workdir, "tables", "summary.csv"))
    assert summary.method[0] == "trivial (majority / mean)" and pd.isna(summary.sst2_std[0])
    assert summary.sst2_mean[0] == pytest.approx(floors["sst2"][1], abs=1e-4)
    assert "trivial (majority / mean)" in results(workdir, "tables", "summary.html").read_text()
    calibration = results(workdir, "tables", "calibration.md").read_text()
    assert f"| trivial (class prior) | {floors['sst2'][1]:.1f} |" in calibration


def test_compute_charges_the_teacher_to_the_methods_that_use_it(study):
    workdir, _, _ = study
    compute = pd.read_csv(results(workdir, "tables", "compute.csv")).set_index(["task", "method"])
    info = read_json(results(workdir, "runs", "sst2", "swa", "seed1", "train_info.json"))["compute"]
    assert info["tokens"] > 0 and info["train_flops"] == 6 * info["non_embedding_parameters"]["student"] * info["tokens"]
    assert info["train_flops_with_embeddings"] == 6 * info["trainable_parameters"] * info["tokens"]
    assert info["peak_rss_mb"] > 50
    logits = read_json(results(workdir, "teacher", "sst2", "train_logits.json"))
    teacher = read_json(results(workdir, "teacher", "sst2", "metrics.json"))["compute"]
    kd = compute.loc[("sst2", "kd")]
    assert kd.teacher_train_seconds == pytest.approx(teacher["train_seconds"], rel=1e-9)
    assert kd.teacher_logits_flops == pytest.approx(logits["flops"])
    assert logits["flops"] == 2 * logits["non_embedding_parameters"] * logits["tokens"]  # non-embedding, as training
    assert kd.total_flops == pytest.approx(kd.train_flops + teacher["train_flops"] + logits["flops"])
    for method in ("finetune", "swa"):
        assert compute.loc[("sst2", method)].teacher_train_seconds == 0
    assert compute.loc[("sst2", "finetune")].seconds_vs_finetune == 1.0
    assert compute.loc[("sst2", "swa")].flops_vs_finetune == pytest.approx(1.0)  # same steps, same tokens
    assert kd.flops_vs_finetune > 1.0


def test_flatness_of_every_run_on_the_same_batches(study):
    workdir, _, _ = study
    records = {key: read_json(results(workdir, "analysis", key[0], key[1], f"seed{key[2]}", "flatness.json"))
               for key in RUNS}
    for task in SEEDS:
        rows = {tuple(r["batches"]["rows"]) for key, r in records.items() if key[0] == task}
        assert len(rows) == 1 and len(next(iter(rows))) == 16  # 2 batches of 8, the same for every run
    for key, record in records.items():
        assert record["hessian"]["top_eigenvalue"] > 0 and "trace" in record["hessian"]
        assert len(record["perturbation"]["losses"]) == 2 and record["cost"]["ratio_to_training"] > 0
        assert (record["interpolation"] is not None) == (key[1] == "swa")


def test_the_line_runs_from_finetune_to_swa_through_both_models(study):
    """alpha 0 and 1 are the two trained models: their loss on the fixed batches matches each model's own
    analysis, and their dev score (whole dev split here) matches each run's metrics.json."""
    workdir, _, _ = study
    for task, seeds in SEEDS.items():
        for seed in seeds:
            swa = read_json(results(workdir, "analysis", task, "swa", f"seed{seed}", "flatness.json"))
            finetune = read_json(results(workdir, "analysis", task, "finetune", f"seed{seed}", "flatness.json"))
            points = {p["alpha"]: p for p in swa["interpolation"]["points"]}
            assert sorted(points) == [-0.5, 0.0, 0.5, 1.0, 1.5] and swa["line_start"] == "finetune"
            assert points[0.0]["train_loss"] == pytest.approx(finetune["loss"], rel=1e-5)
            assert points[1.0]["train_loss"] == pytest.approx(swa["loss"], rel=1e-5)
            metric = read_json(results(workdir, "runs", task, "swa", f"seed{seed}", "metrics.json"))["main_metric"]
            for method, alpha in (("finetune", 0.0), ("swa", 1.0)):
                score = read_json(results(workdir, "runs", task, method, f"seed{seed}", "metrics.json"))
                # the analysis runs the eager attention kernel, evaluation the fused one: float noise only
                assert points[alpha][f"dev_{metric}"] == pytest.approx(score["validation"][metric], abs=5e-4)


def test_flatness_tables_put_sharpness_beside_the_score(study):
    workdir, _, _ = study
    table = pd.read_csv(results(workdir, "analysis", "flatness.csv"))
    assert len(table) == len(RUNS) and table[["score", "sharpness", "top_eigenvalue"]].notna().all().all()
    differences = pd.read_csv(results(workdir, "analysis", "flatness_differences.csv"))
    assert set(differences.metric) == {"sharpness", "top_eigenvalue", "trace"}
    assert set(differences.method) == {"swa", "kd"} and set(differences.reference) == {"finetune"}
    markdown = results(workdir, "analysis", "flatness.md").read_text()
    assert "| sst2 | swa |" in markdown and "Paired differences to finetune" in markdown
    lines = pd.read_csv(results(workdir, "analysis", "interpolation.csv"))
    assert set(lines.method) == {"swa"} and len(lines) == 5 * len(RUNS) // 3


def test_report_holds_every_table_and_figure(study):
    workdir, config, _ = study
    result = run_snakemake(workdir, config, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    page = results(workdir, "report.html").read_text()
    for name in TABLES + FIGURES + ["summary.png", "runs.csv", "significance.csv", "compute.csv"]:
        assert f'"{name}"' in page or f"{name}" in page, name


def test_report_opens_in_a_browser_with_every_table_and_figure(study):
    """Headless Chromium runs the report's own app: every category and task lists its tables and figures by
    label, every image decodes, every HTML table page holds a table."""
    workdir, config, _ = study
    report = results(workdir, "report.html")
    if not report.exists():
        assert run_snakemake(workdir, config, "--report", "results/report.html").returncode == 0
    seen = inspect_report(report)
    assert seen["errors"] == []
    shown = {key: text.split("\n")[0] for key, text in seen["shown"].items()}  # the menu, before the page text
    assert "summary" in shown["1. Results / Other"] and "significance" in shown["1. Results / Other"]
    assert "compute" in shown["3. Compute / Other"] and "flatness" in shown["2. Flatness / Other"]
    for name in ("runs.csv", "significance.csv", "compute.csv", "flatness.csv", "perturbation.csv",
                 "interpolation.csv"):
        assert name in shown["5. Data files / Other"]
    for task in SEEDS:
        assert f"{task}scores" in shown[f"1. Results / {task}"]
        assert f"{task}compute" in shown[f"3. Compute / {task}"]
        assert f"{task}training" in shown[f"4. Training / {task}"]
        for label in ("interpolation", "perturbation", "score vs sharpness"):
            assert f"{task}{label}" in shown[f"2. Flatness / {task}"]
    images = [key.split(" ")[0] for key in seen["images"]]
    assert sorted(images) == sorted(["summary.png"] + [name for name in FIGURES for _ in SEEDS])
    assert all(width > 100 for width in seen["images"].values())  # decoded by the browser
    assert sorted(key.split(" ")[0] for key in seen["tables"]) == sorted(TABLES)
    assert all(count >= 1 for count in seen["tables"].values())


def test_mlflow_parents_carry_the_plots_and_children_the_flatness(study):
    workdir, _, _ = study
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny-evidence")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get("run_key") == "stsb/swa")
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {f"plots/{name}" for name in FIGURES} <= plots
    tables = {a.path for a in client.list_artifacts(parent.info.run_id, "tables")}
    assert {"tables/summary.md", "tables/significance.csv", "tables/compute.csv", "tables/flatness.md"} <= tables
    assert "flatness_sharpness_mean" in parent.data.metrics
    child = next(r for r in runs if r.data.tags.get("run_key") == "stsb/swa/seed2")
    record = read_json(results(workdir, "analysis", "stsb", "swa", "seed2", "flatness.json"))
    assert child.data.metrics["flatness_sharpness"] == pytest.approx(record["sharpness"]["value"])
    assert child.data.metrics["flatness_top_eigenvalue"] == pytest.approx(record["hessian"]["top_eigenvalue"])
    assert "analysis/flatness.json" in {a.path for a in client.list_artifacts(child.info.run_id, "analysis")}


def test_analysis_switches_off_and_bad_settings_stop_at_start(tmp_path, study):
    workdir, config, _ = study
    plan = run_snakemake(workdir, {**config, "analysis": {**config["analysis"], "enabled": False}}, "-n", "--forceall")
    planned = job_counts(plan.stdout + plan.stderr)
    assert "analyse_flatness" not in planned and "plot_flatness" not in planned and planned["plot_task"] == 2
    bad = run_snakemake(tmp_path, {**config, "analysis": {**config["analysis"], "sharpness_radius": 0.3}}, "-n")
    assert bad.returncode != 0
    assert "analysis.sharpness_radius: 0.3 is not one of analysis.radii [0.1, 0.5]" in bad.stderr
    bad = run_snakemake(tmp_path, {**config, "seeds_by_task": {"cola": [1]}}, "-n")
    assert "seeds_by_task.cola: not a task of this study" in bad.stderr
