"""SWA wall time / fine-tuning wall time on the same task, steps, seed and threads: the paper's "no extra compute".

Run:     .venv/bin/python benchmarks/swa_overhead.py
         (config/config.yaml's SST-2 student runs, seed 1, the config's threads per job, 3 interleaved repetitions;
         --task stsb, --repeats 5, --threads 2, --config config/kd-study.yaml to change them)
Prints:  median train seconds of each method, the ratio (goal <= 1.03), and the cost of one SWA update.
Writes:  benchmarks/results/swa_overhead.json

Each repetition runs one real train_student job per method (the step script's own main), in rotated order; the time
is the job's `train_seconds` (the Trainer's loop plus SWA loading its average), not model loading or saving, which
both methods share. SWA's own work is one in-place update of the running mean every K steps.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from _timing import environment, interleaved, ratio, summary, write_result
from _workload import Workload, study_and_threads


def update_seconds(model, repeats: int, foreach: bool) -> float:
    """Median seconds of one AveragedModel update on `model`'s weights (torch's per-tensor loop or foreach lerp)."""
    import statistics

    from torch.optim.swa_utils import AveragedModel, get_swa_multi_avg_fn

    averaged = AveragedModel(model, multi_avg_fn=get_swa_multi_avg_fn() if foreach else None)
    averaged.update_parameters(model)  # the first update copies; the timed ones average
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        averaged.update_parameters(model)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/config.yaml", help="study config whose settings the runs use")
    parser.add_argument("--task", default="sst2", help="one task of that config")
    parser.add_argument("--seed", type=int, default=1, help="student seed (the same for both methods)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per job; default: resources.train_threads")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (the figure is their median)")
    parser.add_argument("--epochs", type=float, default=None, help="student epochs; default: the config's")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training rows; default: the config's data.train_size (smaller for a quick check)")
    parser.add_argument("--scratch", default=None, help="folder for data and runs (default: a temporary one)")
    args = parser.parse_args()

    study, threads = study_and_threads(args)
    scratch = args.scratch or tempfile.mkdtemp(prefix="bench-swa-")
    workload = Workload(study, args.task, scratch, threads)
    workload.data("student")
    overrides = {"epochs": args.epochs} if args.epochs else {}
    facts: dict[str, dict] = {}

    def run(method: str) -> float:
        facts[method] = workload.student(method, args.seed, overrides)
        return facts[method]["train_seconds"]

    for method in ("finetune", "swa"):  # warm-up: imports, allocator, kernels (a few steps each)
        workload.student(method, args.seed, {"epochs": 0.1})
    cpu: dict[str, list[float]] = {}
    samples = interleaved({"finetune": lambda: run("finetune"), "swa": lambda: run("swa")}, args.repeats,
                          warmup=False, cpu=cpu)

    from swa_study.models import load_for_training
    from swa_study.study.assets import mirror_root, resolve_model

    model, _ = load_for_training(resolve_model(study.model_name("student", args.task),
                                               mirror_root(study.config["assets"]["mirror"])),
                                 study.tasks[args.task], args.seed)
    loop, foreach = update_seconds(model, 20, foreach=False), update_seconds(model, 20, foreach=True)
    collections = len(facts["swa"]["swa_collected_steps"])
    figure = ratio(samples["swa"], samples["finetune"])
    result = {
        "figure": "SWA train seconds / finetune train seconds", "goal": "<= 1.03",
        "value": figure["ratio_of_medians"], **figure,
        "finetune_seconds": summary(samples["finetune"]), "swa_seconds": summary(samples["swa"]),
        "cpu_seconds_whole_job": {name: summary(values) for name, values in cpu.items()},
        "cpu_ratio_whole_job": ratio(cpu["swa"], cpu["finetune"]),
        "optimizer_steps": facts["swa"]["optimizer_steps"], "swa_collections": collections,
        "swa_update_ms": {"torch_default_cpu_loop": loop * 1e3, "foreach_lerp": foreach * 1e3},
        "swa_update_share_of_run": collections * foreach / max(1e-9, summary(samples["swa"])["median"]),
        "settings": {"config": args.config, "task": args.task, "seed": args.seed, "repeats": args.repeats,
                     "epochs": facts["swa"]["hyperparameters"]["epochs"]},
        "environment": environment(threads),
    }
    path = write_result("swa_overhead", result)
    print(f"finetune {result['finetune_seconds']['median']:.1f} s, swa {result['swa_seconds']['median']:.1f} s "
          f"(medians of {args.repeats}, {result['optimizer_steps']} steps, {threads} thread(s))")
    print(f"SWA / finetune = {figure['ratio_of_medians']:.3f} (per repetition {figure['paired_min']:.3f}.."
          f"{figure['paired_max']:.3f}; goal <= 1.03)")
    print(f"CPU seconds of the whole job, swa / finetune = {result['cpu_ratio_whole_job']['ratio_of_medians']:.3f} "
          "(robust to other processes' load; includes loading and saving)")
    print(f"one SWA update: {foreach * 1e3:.1f} ms foreach lerp ({loop * 1e3:.1f} ms torch's CPU default); "
          f"{collections} updates = {result['swa_update_share_of_run']:.2%} of the run")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
