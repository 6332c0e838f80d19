"""Data-parallel training (resources.train_processes): 2 gloo processes on this CPU train the same weights as 1.

The real Snakefile trains the tiny finetune and swa jobs twice, with 1 process and with 2 (each rank taking half of
the global batch of 8), and the final weights must agree to float tolerance (the gradient of a batch summed in two
halves and all-reduced differs from the one-process sum only in rounding). The student has no dropout: dropout masks
are drawn per rank, so with dropout the two runs are equally good but not equal. Each job must leave one set of
outputs: no rank-suffixed or duplicate files, one train_info.json, one log record per logged step.
"""
import json
import random
import time

import pytest
import torch
from safetensors.torch import load_file

from swa_study.distributed import per_device_batch, threads_per_process
from tiny_study import build_model, run_snakemake, tiny_config, write_sst2

METHODS = ("finetune", "swa")


def train(workdir, mirror, processes):
    """The tiny finetune and swa jobs of seed 1 through the real Snakefile with `processes` ranks per job."""
    config = tiny_config(mirror, tasks=["sst2"], methods=list(METHODS), seeds=[1],
                         resources={"train_threads": 2, "train_processes": processes},
                         tracking={"enabled": False})
    config["method_params"] = {"swa": config["method_params"]["swa"]}
    config["checkpoints"] = {"every_steps": 4, "keep": True}  # the checkpoint marker is written by rank 0 alone
    targets = [f"results/runs/sst2/{method}/seed1/train_info.json" for method in METHODS]
    result = run_snakemake(workdir, config, "--", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "results" / "runs" / "sst2"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mirror = tmp_path_factory.mktemp("mirror")
    build_model(mirror / "models" / "tiny-student", layers=1, seed=1, dropout=0.0)
    write_sst2(mirror / "glue_data" / "SST-2", {"train": 56, "validation": 24}, random.Random(0))
    started = time.perf_counter()
    single = train(tmp_path_factory.mktemp("one"), mirror, 1)
    double = train(tmp_path_factory.mktemp("two"), mirror, 2)
    print(f"1-process and 2-process runs: {time.perf_counter() - started:.0f} s")
    return single, double


@pytest.mark.parametrize("method", METHODS)
def test_two_processes_train_the_weights_of_one(runs, method):
    single, double = (load_file(str(r / method / "seed1" / "model" / "model.safetensors")) for r in runs)
    assert single.keys() == double.keys()
    for key in single:
        torch.testing.assert_close(double[key], single[key], atol=1e-5, rtol=1e-4, msg=key)
    one, two = (json.loads((r / method / "seed1" / "train_info.json").read_text())["compute"] for r in runs)
    assert two["optimizer_steps"] == one["optimizer_steps"] == 12  # 48 rows / global batch 8, 2 epochs
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
    if method == "swa":
        assert two["swa_collected_steps"] == one["swa_collected_steps"]


@pytest.mark.parametrize("method", METHODS)
def test_two_processes_write_one_set_of_outputs(runs, method):
    single, double = (r / method / "seed1" for r in runs)

    def names(run):
        return sorted(str(p.relative_to(run)) for p in run.rglob("*") if "checkpoints" not in p.parts)

    assert names(double) == names(single)
    records = [json.loads(line) for line in (double / "train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == sorted(set(steps)), "a step logged twice: more than one rank wrote the log"
    for checkpoint in (double / "checkpoints").glob("checkpoint-*"):  # both ranks' RNG states, then the marker
        marked = json.loads((checkpoint / "complete.json").read_text())["files"]
        assert {"rng_state_0.pth", "rng_state_1.pth", "method_state.json"} <= set(marked)


def test_a_two_process_job_resumed_mid_epoch_ends_with_the_weights_of_one_process(runs):
    """A killed 2-process swa job resumes from its step-8 checkpoint (2 steps into epoch 2) in the same data order."""
    import shutil

    import yaml

    single, double = (r / "swa" / "seed1" for r in runs)
    shutil.rmtree(double / "checkpoints" / "checkpoint-12")  # as if killed after the step-8 checkpoint
    for output in ("model", "train_info.json", "train_log.jsonl"):
        shutil.rmtree(double / output) if output == "model" else (double / output).unlink()
    workdir = runs[1].parents[2]
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    result = run_snakemake(workdir, config, "--", "results/runs/sst2/swa/seed1/train_info.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((double / "train_info.json").read_text())["compute"]["resumed_from_step"] == 8
    one, two = (load_file(str(r / "model" / "model.safetensors")) for r in (single, double))
    for key in one:
        torch.testing.assert_close(two[key], one[key], atol=1e-5, rtol=1e-4, msg=key)


def test_a_batch_that_does_not_split_evenly_is_refused():
    assert per_device_batch(32, 4) == 8
    with pytest.raises(ValueError, match="student.batch_size 6 does not split over resources.train_processes 4"):
        per_device_batch(6, 4, "student.batch_size")
    assert threads_per_process(4, 2) == 2 and threads_per_process(1, 2) == 1


def test_a_setting_that_cannot_run_data_parallel_stops_the_plan_naming_the_key():
    from swa_study.study.config import ConfigError
    from swa_study.study.parallel import job_processes
    from swa_study.study.plan import load_study
    from tiny_study import REPO

    def plan(**changes):
        config = {**tiny_config("/nonexistent", tasks=["sst2"], methods=["finetune", "swa"]), **changes}
        config["method_params"] = changes.get("method_params", {"swa": {"swa_start": 0.5}})
        config["resources"] = {"train_processes": 2}
        return load_study(config, "config.yaml", REPO / "config")

    assert plan().config["resources"]["train_processes"] == 2
    with pytest.raises(ConfigError, match=r"^config.yaml: student.batch_size: 7 does not split over "
                                          r"resources.train_processes 2 \(task sst2\)"):
        plan(student={"epochs": 1, "batch_size": 7, "learning_rate": 1e-3})
    assert job_processes(plan().config, "swa") == 2
    assert job_processes(plan().config, "mate_kd") == 1  # its generator's random stream cannot split (parallel.py)
    plan(methods=["finetune", "mate_kd"], method_params={"mate_kd": {"batch_size": 7}})  # one process: any batch


def test_a_failing_rank_fails_the_job_with_its_one_line_reason(tmp_path, monkeypatch):
    from swa_study.distributed import launch
    from tiny_study import REPO

    script = tmp_path / "step.py"
    script.write_text("from swa_study.distributed import rank, run_rank\n\n"
                      "def main(rows):\n"
                      "    if rank() == 1:\n"
                      "        raise ValueError(f'rank 1 cannot read {rows} rows')\n\n"
                      "run_rank(main)\n")
    monkeypatch.setenv("PYTHONPATH", str(REPO / "workflow_scripts"))
    with pytest.raises(RuntimeError, match=r"^data-parallel training \(2 processes\) failed: "
                                           r"rank 1 cannot read 48 rows$"):
        launch(script, {"rows": 48}, 2)
