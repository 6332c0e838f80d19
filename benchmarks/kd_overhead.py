"""What distillation costs against plain fine-tuning, per epoch and per run with the teacher's training included.

Run:     .venv/bin/python benchmarks/kd_overhead.py
         (config/kd-study.yaml: SST-2, the KD baselines' settings there, seed 1, its threads per job, 3 interleaved
         repetitions of one epoch per method; --repeats, --threads, --config, --task to change them)
Prints:  per-epoch seconds of finetune, KD on cached teacher logits (goal <= 1.10 x finetune), KD running the teacher
         on every batch, Annealing-KD, RAIL-KD and MATE-KD; then each per run of the config's epochs with the
         teacher's training and its logits pass added (what one run costs when it pays for its own teacher), and
         with the teacher shared by the study's seeds.
Writes:  benchmarks/results/kd_overhead.json

Each repetition runs one real train_student job per method (one epoch; Annealing-KD one epoch per phase, including
its per-epoch held-out scoring and checkpoint), in rotated order. The teacher is trained once, with the config's
settings, before the repetitions (train_teacher's own main: its training loop, per-epoch held-out scoring and
checkpoints), and its logits are computed once (teacher_logits' main).
"""
from __future__ import annotations

import argparse
import tempfile

from _timing import environment, interleaved, ratio, summary, write_result
from _workload import Workload, study_and_threads

# name -> (method, what it gets from the teacher when not what the DAG hands it)
CASES = {
    "finetune": ("finetune", None),
    "kd": ("kd", None),  # cached logits, as the DAG hands them
    "kd_live_teacher": ("kd", ("model",)),  # the teacher's forward pass on every batch instead
    "annealing_kd": ("annealing_kd", None),
    "rail_kd": ("rail_kd", None),
    "mate_kd": ("mate_kd", None),
}


def epochs_of(method: str, epochs: float) -> dict:
    """Settings for `epochs` of training; Annealing-KD gets that many per phase (tau_max 1: phase 1 is one block)."""
    if method == "annealing_kd":
        return {"phase1_epochs": epochs, "phase2_epochs": epochs, "tau_max": 1}
    return {"epochs": epochs}


def run_epochs(study, method: str, task: str) -> float:
    """Epochs one run of `method` trains with the config's settings (Annealing-KD: its two phases)."""
    hp = study.student_params(method, task)
    return float(hp["phase1_epochs"]) + float(hp["phase2_epochs"]) if method == "annealing_kd" else float(hp["epochs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/kd-study.yaml", help="study config naming the KD baselines")
    parser.add_argument("--task", default="sst2", help="one classification task of that config")
    parser.add_argument("--seed", type=int, default=1, help="student seed (the same for every method)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per job; default: resources.train_threads")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (figures are medians)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), help="which runs to time")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training rows; default: the config's data.train_size (smaller for a quick check)")
    parser.add_argument("--scratch", default=None, help="folder for data, teacher and runs (default: temporary)")
    args = parser.parse_args()

    study, threads = study_and_threads(args)
    workload = Workload(study, args.task, args.scratch or tempfile.mkdtemp(prefix="bench-kd-"), threads)
    teacher = workload.teacher()
    _, logits_seconds = workload.logits()
    print(f"teacher: {teacher['train_seconds']:.1f} s training ({teacher['step_seconds']:.1f} s the whole step), "
          f"logits {logits_seconds:.1f} s")

    def trained_epochs(name: str) -> float:
        return 2.0 if CASES[name][0] == "annealing_kd" else 1.0  # what epochs_of(method, 1) trains

    def case(name: str):
        method, inputs = CASES[name]
        return lambda: workload.student(method, args.seed, epochs_of(method, 1), teacher_inputs=inputs)[
            "train_seconds"] / trained_epochs(name)

    for name in args.cases:  # warm-up: a few steps of each
        workload.student(CASES[name][0], args.seed, epochs_of(CASES[name][0], 0.05), teacher_inputs=CASES[name][1])
    cpu: dict[str, list[float]] = {}
    samples = interleaved({name: case(name) for name in args.cases}, args.repeats, warmup=False, cpu=cpu)

    finetune = summary(samples["finetune"])["median"]
    seeds = len(study.seeds)
    rows = {}
    for name in args.cases:
        method, inputs = CASES[name]
        needs = inputs if inputs is not None else study.teacher_inputs(method, args.task)
        teacher_cost = (teacher["train_seconds"] if needs else 0.0) + (logits_seconds if "logits" in needs else 0.0)
        per_epoch = summary(samples[name])
        run_seconds = per_epoch["median"] * run_epochs(study, method, args.task)
        finetune_run = finetune * run_epochs(study, "finetune", args.task)
        rows[name] = {
            "per_epoch_seconds": per_epoch,
            **{f"per_epoch_{k}": v for k, v in ratio(samples[name], samples["finetune"]).items()},
            "per_epoch_cpu_ratio_whole_job": ratio([c / trained_epochs(name) for c in cpu[name]],
                                                   cpu["finetune"])["ratio_of_medians"],
            "run_epochs": run_epochs(study, method, args.task), "teacher_inputs": list(needs),
            "run_ratio_student_only": run_seconds / finetune_run,
            "run_ratio_with_teacher": (run_seconds + teacher_cost) / finetune_run,
            "run_ratio_teacher_shared_by_seeds": (run_seconds + teacher_cost / seeds) / finetune_run,
        }
    result = {
        "figure": "KD on cached teacher logits / finetune, per epoch", "goal": "<= 1.10",
        "value": rows["kd"]["per_epoch_ratio_of_medians"] if "kd" in rows else None,
        "cases": rows, "teacher_train_seconds": teacher["train_seconds"],
        "teacher_step_seconds": teacher["step_seconds"], "teacher_logits_seconds": logits_seconds,
        "settings": {"config": args.config, "task": args.task, "seed": args.seed, "repeats": args.repeats,
                     "seeds_sharing_the_teacher": seeds},
        "environment": environment(threads),
    }
    path = write_result("kd_overhead", result)
    print(f"{'case':<18}{'s/epoch':>9}{'x finetune':>12}{'(cpu)':>7}{'run x ft':>10}{'+teacher':>10}{'shared':>9}")
    for name, row in rows.items():
        print(f"{name:<18}{row['per_epoch_seconds']['median']:>9.1f}{row['per_epoch_ratio_of_medians']:>12.2f}"
              f"{row['per_epoch_cpu_ratio_whole_job']:>7.2f}"
              f"{row['run_ratio_student_only']:>10.2f}{row['run_ratio_with_teacher']:>10.2f}"
              f"{row['run_ratio_teacher_shared_by_seeds']:>9.2f}")
    print(f"KD (cached logits) / finetune per epoch = {result['value']:.3f} (goal <= 1.10); '(cpu)': CPU seconds of "
          f"the whole job; '+teacher': one run pays the teacher's training and logits, 'shared': {seeds} seeds share "
          "them")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
