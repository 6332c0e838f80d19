"""The trivial baseline (majority class, mean score) on hand-made labels, the step that writes it, and the floor
row it becomes in the summary and calibration tables."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from swa_study.baseline import trivial_record
from swa_study.calibration_report import calibration_floor, calibration_markdown, calibration_table
from swa_study.report import TRIVIAL, load_baselines, summary_markdown, summary_table, with_floor
from swa_study.study.tasks import builtin_task
from tiny_study import REPO


def test_the_majority_class_of_the_training_rows_scores_accuracy_and_the_positive_f1():
    """Train 3 x 1, 1 x 0: predict 1. Dev (1, 0, 1, 1, 0): accuracy 3/5; F1 of class 1 with precision 3/5 and
    recall 1 is 2 x 0.6 / 1.6 = 0.75 (MRPC's 81.2 is this, with 68 % positives)."""
    record = trivial_record(builtin_task("mrpc"), {"train": [1, 1, 1, 0], "validation": [1, 0, 1, 1, 0]})
    assert record["predicts"]["rule"] == "majority class" and record["predicts"]["value"] == 1
    assert record["predicts"]["class_counts"] == [1, 3] and record["method"] == "trivial"
    assert record["validation"]["accuracy"] == pytest.approx(0.6)
    assert record["validation"]["f1"] == pytest.approx(0.75) and record["main_metric"] == "f1"
    assert record["constant_correlations"] == [] and "test" not in record


def test_a_negative_majority_has_no_positive_f1_and_the_prior_is_its_calibration():
    """Predicting class 0 never finds a positive: F1 0. Probabilities: add-one smoothed training frequencies,
    (3 + 1) / 6 and (1 + 1) / 6; NLL on dev (0, 0, 1) = -(2 log 2/3 + log 1/3) / 3; one confidence bin, so ECE
    is |accuracy - 2/3| = 0."""
    record = trivial_record(builtin_task("mrpc"), {"train": [0, 0, 0, 1], "validation": [0, 0, 1]})
    validation = record["validation"]
    assert validation["f1"] == 0.0 and validation["accuracy"] == pytest.approx(2 / 3)
    assert record["predicts"]["probabilities"] == pytest.approx([2 / 3, 1 / 3])
    assert validation["nll"] == pytest.approx(-(2 * math.log(2 / 3) + math.log(1 / 3)) / 3)
    assert validation["ece"] == pytest.approx(0.0, abs=1e-12)


def test_a_constant_has_no_correlation_matthews_is_zero():
    record = trivial_record(builtin_task("cola"), {"train": [1, 1, 0], "validation": [0, 1, 1, 0]})
    assert record["validation"]["matthews_correlation"] == 0.0
    assert record["constant_correlations"] == ["matthews_correlation"]


def test_regression_predicts_the_mean_training_score_on_the_datasets_scale():
    """STS-B labels are stored divided by 5: (0.2, 0.4, 0.6) are scores 1, 2, 3, mean 2. Pearson and Spearman of
    a constant are 0/0 (scipy: NaN): reported as 0.0 and listed. Test is scored where the data has it."""
    record = trivial_record(builtin_task("stsb"), {"train": np.array([0.2, 0.4, 0.6], dtype=np.float32),
                                                   "validation": [0.0, 1.0, 0.5], "test": [0.1, 0.9]})
    assert record["predicts"]["rule"] == "mean training score"
    assert record["predicts"]["value"] == pytest.approx(2.0)
    assert record["validation"] == {"pearsonr": 0.0, "spearmanr": 0.0} == record["test"]
    assert record["constant_correlations"] == ["pearsonr", "spearmanr"]


def test_qa_has_no_trivial_baseline():
    with pytest.raises(ValueError, match="'squad' is a qa task"):
        trivial_record(builtin_task("squad"), {"train": [0], "validation": [0]})


def test_the_step_reads_the_prepared_labels_and_imports_no_torch(tmp_path):
    """The step on a prepared-data folder (train, heldout, validation as `datasets` folders): heldout rows are
    not the students' training rows, so they do not count. In a fresh interpreter: torch never loads."""
    import datasets

    data = tmp_path / "data"
    for name, labels in {"train": [0, 1, 1], "heldout": [0, 0, 0, 0, 0], "validation": [1, 0]}.items():
        datasets.Dataset.from_dict({"idx": list(range(len(labels))), "label": labels}).save_to_disk(str(data / name))
    output = tmp_path / "baseline" / "metrics.json"
    param = {"name": "sst2", "definition": builtin_task("sst2").definition}
    script = (f"import sys, trivial_baseline; trivial_baseline.main({param!r}, {str(data)!r}, {str(output)!r}); "
              "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "workflow_scripts")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    record = json.loads(output.read_text())
    assert record["predicts"]["value"] == 1 and record["validation"]["accuracy"] == pytest.approx(0.5)


def test_the_floor_is_the_first_row_of_the_summary_without_spread_or_mark(tmp_path):
    runs = pd.DataFrame([{"task": t, "method": m, "seed": s, "score": 0.7 + 0.01 * s, "main_metric": "accuracy"}
                         for t in ("sst2", "squad") for m in ("finetune", "swa") for s in (1, 2, 3)])
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(trivial_record(builtin_task("sst2"), {"train": [1, 1, 0], "validation": [1, 0]})))
    table = with_floor(summary_table(runs, ["sst2", "squad"], ["finetune", "swa"]), load_baselines([path]),
                       ["sst2", "squad"])
    assert list(table.method) == [TRIVIAL, "finetune", "swa"] and table.sst2_mean[0] == pytest.approx(50.0)
    assert table.sst2_n.tolist()[1:] == [3, 3] and pd.isna(table.sst2_n[0]) and pd.isna(table.avg_mean[0])
    markdown = summary_markdown(table, ["sst2", "squad"], {"sst2": "accuracy", "squad": "f1"}, "t", {("sst2", TRIVIAL)})
    assert f"| {TRIVIAL} | 50.0 | – | – |" in markdown  # no ±, no mark even if asked, no average without squad's
    assert "over 3 seeds" in markdown and "reported as 0.0" in markdown and "QA and generation" in markdown


def test_the_calibration_table_shows_the_class_prior_above_the_methods(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(trivial_record(builtin_task("sst2"), {"train": [1, 1, 0], "validation": [1, 0]})))
    runs = pd.DataFrame([{"task": "sst2", "method": "finetune", "seed": 1, "score": 0.8, "ece": 0.1, "nll": 0.5,
                          "brier": 0.3, "train_seconds": 10.0}])
    floors = calibration_floor([path])
    markdown = calibration_markdown(calibration_table(runs, ["finetune"]), {"sst2": "accuracy"}, "t", floors)
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert lines[1].startswith("| trivial (class prior) | 50.0 | 10.0 | ") and lines[2].startswith("| finetune |")
    assert floors["sst2"]["ece"] == pytest.approx(abs(0.5 - 0.6))  # confidence (2 + 1) / 5, accuracy 1/2
