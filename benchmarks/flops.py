"""Training FLOP/s of the pipeline (6 x parameters x tokens per second) against this CPU's own fp32 matmul FLOP/s.

Run:     .venv/bin/python benchmarks/flops.py
         (config/config.yaml's first task and student, one epoch of a real train_student job, seed 1, the config's
         threads per job, 3 repetitions; --task stsb, --threads 2, --precision bf16 to change them)
Prints:  the CPU's matmul FLOP/s (fp32, and bf16 for reference), the training run's tokens per second, and the
         ratio under three readings of "6 x parameters x tokens" (goal >= 0.4 for the first):
           non-embedding parameters x real tokens   useful work: the matmuls a token needs (Kaplan et al. 2020's N;
                                                    an embedding row is looked up, not multiplied)
           non-embedding parameters x padded tokens the matmul work the batches actually carried (padding included)
           all parameters x real tokens             the formula read literally (the embedding table is 2/3 of the
                                                    3-layer student's parameters, so this overstates the work)
Writes:  benchmarks/results/flops.json
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from _timing import environment, interleaved, summary, write_result
from _workload import Workload, study_and_threads


def matmul_flops(size: int, dtype_name: str, repeats: int = 10) -> float:
    """Median FLOP/s of one (size x size) @ (size x size) product at the pinned thread count."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times)


class TokenCounter:
    """Wraps the pipeline's collator to count the real and the padded tokens of every training batch."""

    def __init__(self):
        from swa_study import prediction

        self.prediction, self.original = prediction, prediction.PadCollator.__call__
        self.real = self.padded = 0

    def __enter__(self):
        counter, original = self, self.original

        def counting(collator, features):
            batch = original(collator, features)
            counter.real += int(batch["attention_mask"].sum())
            counter.padded += int(batch["input_ids"].numel())
            return batch

        self.prediction.PadCollator.__call__ = counting
        return self

    def __exit__(self, *exc):
        self.prediction.PadCollator.__call__ = self.original


def parameter_counts(workload: Workload) -> tuple[int, int]:
    """(all parameters, non-embedding parameters) of the student as trained for the task, by the rule of the
    pipeline's own FLOPs (compute.non_embedding_parameters: transformers' exclude_embeddings)."""
    from swa_study.compute import all_parameters, non_embedding_parameters
    from swa_study.models import load_for_training
    from swa_study.study.assets import mirror_root, resolve_model

    study = workload.study
    path = resolve_model(study.model_name("student", workload.task), mirror_root(study.config["assets"]["mirror"]))
    model, _ = load_for_training(path, study.tasks[workload.task], seed=0)
    return all_parameters(model), non_embedding_parameters(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/config.yaml", help="study config whose settings the run uses")
    parser.add_argument("--task", default=None, help="a classification task of that config (default: the first)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads; default: resources.train_threads")
    parser.add_argument("--repeats", type=int, default=3, help="training repetitions (the figure uses the median)")
    parser.add_argument("--precision", default=None, choices=["fp32", "bf16"], help="default: the config's")
    parser.add_argument("--matmul-size", type=int, default=1024, help="side of the square matrices timed")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training rows; default: the config's data.train_size (smaller for a quick check)")
    parser.add_argument("--scratch", default=None, help="folder for data and runs (default: a temporary one)")
    args = parser.parse_args()

    study, threads = study_and_threads(args)
    task = args.task or next(t for t in study.tasks if study.family(t) == "classification")
    workload = Workload(study, task, args.scratch or tempfile.mkdtemp(prefix="bench-flops-"), threads)
    overrides = {"epochs": 1, **({"precision": args.precision} if args.precision else {})}
    counter = TokenCounter()

    def train() -> float:
        counter.real = counter.padded = 0
        with counter:
            return workload.student("finetune", args.seed, overrides)["train_seconds"]

    samples = interleaved({"train": train}, args.repeats, warmup=True)["train"]
    seconds = summary(samples)["median"]
    fp32, bf16 = matmul_flops(args.matmul_size, "float32"), matmul_flops(args.matmul_size, "bfloat16")
    total, non_embedding = parameter_counts(workload)
    readings = {
        "non_embedding_x_real_tokens": 6 * non_embedding * counter.real / seconds,
        "non_embedding_x_padded_tokens": 6 * non_embedding * counter.padded / seconds,
        "all_parameters_x_real_tokens": 6 * total * counter.real / seconds,
    }
    result = {
        "figure": "training FLOP/s (6 x non-embedding parameters x real tokens) / fp32 matmul FLOP/s", "goal": ">= 0.4",
        "value": readings["non_embedding_x_real_tokens"] / fp32,
        "ratios": {name: flops / fp32 for name, flops in readings.items()},
        "training_flops_per_second": readings, "matmul_flops_per_second": {"float32": fp32, "bfloat16": bf16},
        "train_seconds": summary(samples), "real_tokens": counter.real, "padded_tokens": counter.padded,
        "parameters": {"all": total, "non_embedding": non_embedding},
        "settings": {"config": args.config, "task": task, "seed": args.seed, "repeats": args.repeats,
                     "precision": overrides.get("precision") or study.student_params("finetune", task)["precision"],
                     "group_by_length": study.student_params("finetune", task)["group_by_length"],
                     "matmul_size": args.matmul_size},
        "environment": environment(threads),
    }
    path = write_result("flops", result)
    print(f"matmul {args.matmul_size}^3 at {threads} thread(s): fp32 {fp32 / 1e9:.0f} GFLOP/s, bf16 {bf16 / 1e9:.0f}")
    print(f"training ({task}, one epoch, {result['settings']['precision']}): {seconds:.1f} s, {counter.real} real "
          f"tokens ({counter.padded} with padding), parameters {total / 1e6:.1f} M ({non_embedding / 1e6:.1f} M "
          "outside the embeddings)")
    for name, flops in readings.items():
        print(f"  6 x {name.replace('_x_', ' x ').replace('_', ' ')}: {flops / 1e9:6.1f} GFLOP/s = "
              f"{flops / fp32:.2f} of fp32 matmul")
    print(f"training FLOP/s / matmul FLOP/s = {result['value']:.2f} (useful work; goal >= 0.4)")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
