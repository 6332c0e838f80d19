"""Peak resident memory of one training job per method, each job in a process of its own.

Run:     .venv/bin/python benchmarks/memory.py
         (config/config.yaml's first task: finetune, swa, kd, and a job that only loads data and model, one epoch
         each, 2 repetitions; --methods finetune swa, --repeats 1, --task stsb to change them)
Prints:  each job's peak resident set (the child's own maximum, from wait4), and what SWA and KD add over
         fine-tuning, also in copies of the student's weights (goal: SWA adds one copy, no more).
Writes:  benchmarks/results/memory.json

Every job runs in a child process (`python benchmarks/memory.py --child METHOD ...`): first one that prepares the
data, a briefly trained teacher and its logits (their values do not change a student's memory), then one per job
that runs the real train_student step (its main) and exits. The parent never imports torch: Linux counts the
parent's resident memory at the fork in a child's peak, so a large parent would mask the children's.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile

from _timing import environment, fix_threads, run_child, write_result
from _workload import Workload, load_config_study

LOAD_ONLY, PREPARE = "load_only", "prepare"


def child(args: argparse.Namespace, study) -> None:
    """One job in this process: prepare (data, a briefly trained teacher, its logits), load_only (the imports, data
    and model of a run, without training; prints the weights' size), or a student run."""
    fix_threads(args.threads)
    workload = Workload(study, args.task, args.scratch, args.threads)
    if args.child == PREPARE:
        workload.data("student")
        if any(study.teacher_inputs(m, args.task) for m in args.methods):
            workload.teacher({"epochs": 0.1})  # a few steps: the logits' values do not matter here
            workload.logits()
    elif args.child == LOAD_ONLY:
        import train_student  # noqa: F401  (the same imports as a training job: the Trainer, the methods)
        from swa_study.data import load_prepared
        from swa_study.models import load_for_training
        from swa_study.study.assets import mirror_root, resolve_model

        load_prepared(workload.data("student"))
        model, _ = load_for_training(resolve_model(study.model_name("student", args.task),
                                                   mirror_root(study.config["assets"]["mirror"])),
                                     study.tasks[args.task], 1)
        print(json.dumps({"weights_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20}))
    else:
        workload.student(args.child, 1, {"epochs": args.epochs})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/config.yaml", help="study config whose settings the jobs use")
    parser.add_argument("--task", default=None, help="a task of that config (default: the first)")
    parser.add_argument("--methods", nargs="+", default=["finetune", "swa", "kd"], help="methods of that config")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per job; default: resources.train_threads")
    parser.add_argument("--repeats", type=int, default=2, help="jobs per method (the figure is the median peak)")
    parser.add_argument("--epochs", type=float, default=1.0, help="student epochs per job (memory peaks early)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training rows; default: the config's data.train_size")
    parser.add_argument("--scratch", default=None, help="folder for data, teacher and runs (default: temporary)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: run one job and exit
    args = parser.parse_args()
    study = load_config_study(args.config, {"data": {"train_size": args.train_size}} if args.train_size else None)
    args.task = args.task or next(iter(study.tasks))
    args.threads = args.threads or study.config["resources"]["train_threads"]
    if args.child:
        child(args, study)
        return

    # This process stays small (no torch): a child's peak RSS counts its parent's resident memory at the fork.
    args.scratch = args.scratch or tempfile.mkdtemp(prefix="bench-memory-")

    def job(name: str) -> tuple[float, float, str]:
        command = [sys.executable, __file__, "--child", name, "--config", args.config, "--task", args.task,
                   "--threads", str(args.threads), "--epochs", str(args.epochs), "--scratch", args.scratch,
                   "--methods", *args.methods, *(["--train-size", str(args.train_size)] if args.train_size else [])]
        seconds, peak, result = run_child(command)
        if result.returncode != 0:
            raise SystemExit(f"{name} job failed:\n{result.stderr[-3000:]}")
        return seconds, peak, result.stdout

    job(PREPARE)
    peaks: dict[str, list[float]] = {name: [] for name in [LOAD_ONLY, *args.methods]}
    weights_mb = float("nan")
    for r in range(args.repeats):
        for name in peaks:
            seconds, peak, stdout = job(name)
            if name == LOAD_ONLY:
                weights_mb = json.loads(stdout.strip().splitlines()[-1])["weights_mb"]
            peaks[name].append(peak)
            print(f"  rep {r + 1}/{args.repeats} {name}: peak {peak:.0f} MB ({seconds:.0f} s)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    median = {name: statistics.median(values) for name, values in peaks.items()}
    extra = {name: median[name] - median["finetune"] for name in args.methods if "finetune" in median}
    result = {
        "figure": "peak resident memory of one training job, MB", "goal": "SWA adds one copy of the weights, no more",
        "value": {name: round(value) for name, value in median.items()},
        "peak_mb": peaks, "weights_mb": weights_mb, "parent_peak_mb": own,
        "over_finetune_mb": extra, "over_finetune_in_weight_copies": {k: v / weights_mb for k, v in extra.items()},
        "settings": {"config": args.config, "task": args.task, "epochs": args.epochs, "repeats": args.repeats},
        "environment": environment(args.threads),
    }
    path = write_result("memory", result)
    print(f"student weights: {weights_mb:.0f} MB (fp32); this process (the floor of every child's peak): {own:.0f} MB")
    for name, value in median.items():
        over = f"  {extra[name]:+.0f} MB = {extra[name] / weights_mb:+.2f} weight copies over finetune" \
            if name in extra and name != "finetune" else ""
        print(f"  {name:<10} peak {value:6.0f} MB{over}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
