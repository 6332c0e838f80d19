"""benchmarks/precision_compare.py pairs a study's runs with their twins under another setting (bf16, or random
batches in another study) seed by seed: the figures that decide a default must be the right differences."""
import json
import sys

import pytest

from tiny_study import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from precision_compare import load_runs, paired_rows  # noqa: E402


def write_run(results, task, method, seed, score, seconds):
    run = results / "runs" / task / method / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"task": task, "method": method, "seed": seed,
                                                  "main_metric": "accuracy", "validation": {"accuracy": score}}))
    (run / "train_info.json").write_text(json.dumps({"compute": {"train_seconds": seconds}}))


def test_twins_in_another_study_pair_by_seed_and_only_common_seeds_count(tmp_path):
    reference, twin = tmp_path / "grouped", tmp_path / "shuffled"
    for seed, score, seconds in [(1, 0.70, 40.0), (2, 0.72, 42.0), (3, 0.74, 44.0), (4, 0.99, 1.0)]:
        write_run(reference, "sst2", "swa", seed, score, seconds)
    for seed, score, seconds in [(1, 0.75, 80.0), (2, 0.73, 90.0), (3, 0.80, 100.0)]:  # seed 4 never ran here
        write_run(twin, "sst2", "swa", seed, score, seconds)
    write_run(twin, "sst2", "kd", 1, 0.5, 10.0)  # no reference: no row

    [row] = paired_rows(load_runs(reference), load_runs(twin), suffix="")
    assert row["seeds"] == [1, 2, 3] and (row["task"], row["method"]) == ("sst2", "swa")
    assert row["fp32_mean"] == pytest.approx(72.0) and row["bf16_mean"] == pytest.approx(76.0)
    assert row["paired_difference_mean"] == pytest.approx((5 + 1 + 6) / 3)
    assert (row["paired_difference_min"], row["paired_difference_max"]) == pytest.approx((1.0, 6.0))
    assert row["fp32_std"] == pytest.approx(2.0) and row["within_seed_spread"] is False  # 4.0 > 2.0
    assert row["speedup"] == pytest.approx(42.0 / 90.0)  # medians over the common seeds


def test_twins_in_one_study_go_by_the_suffix(tmp_path):
    for seed, score in [(1, 0.70), (2, 0.74)]:
        write_run(tmp_path, "stsb", "kd", seed, score, 60.0)
        write_run(tmp_path, "stsb", "kd_bf16", seed, score + 0.01, 40.0)
    runs = load_runs(tmp_path)
    [row] = paired_rows(runs, runs, suffix="_bf16")
    assert row["method"] == "kd" and row["paired_difference_mean"] == pytest.approx(1.0)
    assert row["within_seed_spread"] is True and row["speedup"] == pytest.approx(1.5)  # |1.0| <= std 2.83
