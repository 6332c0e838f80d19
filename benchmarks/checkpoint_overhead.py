"""What resumability costs: train seconds with checkpoints every `--every` steps / without, per method.

Run:     .venv/bin/python benchmarks/checkpoint_overhead.py
         (config/config.yaml's SST-2 student runs, seed 1, the config's threads per job, 3 interleaved repetitions;
         --every 50 is the config default; --methods finetune swa kd)
Prints:  median train seconds with and without checkpoints, and their ratio, per method.
Writes:  benchmarks/results/checkpoint_overhead.json

A checkpoint is the Trainer's (weights, optimizer, scheduler, RNG, data position) plus the method's own state and a
checksum file; its cost is the time to write them, counted in the run's `train_seconds` like any other step.
"""
from __future__ import annotations

import argparse
import tempfile

from _timing import environment, interleaved, ratio, summary, write_result
from _workload import Workload, study_and_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/config.yaml", help="study config whose settings the runs use")
    parser.add_argument("--task", default="sst2", help="one task of that config")
    parser.add_argument("--methods", nargs="+", default=["finetune", "swa"], help="methods to measure")
    parser.add_argument("--seed", type=int, default=1, help="student seed")
    parser.add_argument("--every", type=int, default=50, help="checkpoint every this many optimizer steps")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per job; default: resources.train_threads")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (the figure is their median)")
    parser.add_argument("--train-size", type=int, default=None, help="training rows; default: the config's")
    args = parser.parse_args()

    study, threads = study_and_threads(args)
    workload = Workload(study, args.task, tempfile.mkdtemp(prefix="bench-ckpt-"), threads)
    workload.data("student")
    settings = {"with": {"every_steps": args.every, "keep": False}, "without": {"every_steps": 0, "keep": False}}
    cases = {f"{method}/{name}": (lambda m=method, c=checkpoints: workload.student(m, args.seed, checkpoints=c)
                                  ["train_seconds"])
             for method in args.methods for name, checkpoints in settings.items()}
    for method in args.methods:  # warm-up: imports, allocator, kernels (a few steps each)
        workload.student(method, args.seed, {"epochs": 0.1})
    samples = interleaved(cases, args.repeats, warmup=False)
    result = {"figure": "train seconds with checkpoints / without", "goal": "reported",
              "value": {m: ratio(samples[f"{m}/with"], samples[f"{m}/without"])["ratio_of_medians"]
                        for m in args.methods},
              "seconds": {name: summary(values) for name, values in samples.items()},
              "settings": {"config": args.config, "task": args.task, "every_steps": args.every,
                           "repeats": args.repeats, "methods": args.methods},
              "environment": environment(threads)}
    path = write_result("checkpoint_overhead", result)
    for method in args.methods:
        print(f"{method}: {result['seconds'][f'{method}/with']['median']:.1f} s with checkpoints every {args.every} "
              f"steps, {result['seconds'][f'{method}/without']['median']:.1f} s without: "
              f"ratio {result['value'][method]:.3f}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
