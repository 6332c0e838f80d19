"""Training throughput of the pipeline's loop against a plain Hugging Face Trainer run: same model, data, batch,
steps and threads.

Run:     .venv/bin/python benchmarks/throughput.py
         (config/config.yaml's tasks and student, one epoch per case, seed 1, the config's threads per job, 3
         interleaved repetitions; --tasks sst2, --repeats 5, --threads 2 to change them)
Prints:  training rows per second of each case and the pipeline / plain ratio per task (goal >= 1.2).
Writes:  benchmarks/results/throughput.json

Cases (each one epoch of fine-tuning the student on the task's prepared training rows):
  plain               the Trainer as its documentation shows it: rows padded to max_length, shuffled, the model's
                      own loss, default collator
  pipeline            a real train_student job (the step script's main) with the config's settings: batches padded
                      per batch, grouped by length unless the config turns it off
  pipeline_shuffled   the same with group_by_length: false (per-batch padding only)
  pipeline_bf16       the same with precision: bf16 (CPU autocast)
  pipeline_pad8       the same with batches padded to a multiple of 8 (what the pipeline does on GPUs only)
Both kinds use the same optimizer (fused AdamW), learning rate, batch size, seed and thread count.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from _timing import environment, interleaved, ratio, summary, write_result
from _workload import Workload, study_and_threads

CASES = ("plain", "pipeline", "pipeline_shuffled", "pipeline_bf16", "pipeline_pad8")


def plain_trainer(workload: Workload, seed: int, scratch: str):
    """A function that trains the student for one epoch the way the Trainer's documentation does, and times it."""
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
    from transformers import default_data_collator

    from swa_study.study.assets import mirror_root, resolve_model

    study, task = workload.study, workload.study.tasks[workload.task]
    path = resolve_model(study.model_name("student", workload.task), mirror_root(study.config["assets"]["mirror"]))
    tokenizer = AutoTokenizer.from_pretrained(path)
    train = datasets.load_from_disk(f"{workload.data('student')}/train").remove_columns(["idx"])
    length = study.input_length(workload.task)
    padded = train.map(lambda batch: tokenizer.pad(batch, padding="max_length", max_length=length), batched=True)
    hp = study.student_params("finetune", workload.task)

    def run() -> float:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=task.num_labels, problem_type="regression" if task.is_regression else None)
        args = TrainingArguments(output_dir=scratch, num_train_epochs=1, learning_rate=hp["learning_rate"],
                                 per_device_train_batch_size=hp["batch_size"], optim="adamw_torch_fused", seed=seed,
                                 logging_steps=hp["logging_steps"], save_strategy="no", report_to="none",
                                 disable_tqdm=True, dataloader_pin_memory=False)
        trainer = Trainer(model=model, args=args, train_dataset=padded, data_collator=default_data_collator)
        started = time.perf_counter()
        trainer.train()
        return time.perf_counter() - started

    return run


def pipeline(workload: Workload, seed: int, overrides: dict, pad_multiple: int | None = None):
    """A function that runs one train_student job for one epoch and returns its train seconds."""
    from swa_study import training

    def run() -> float:
        default = training.PAD_MULTIPLE
        training.PAD_MULTIPLE = pad_multiple if pad_multiple is not None else default
        try:
            return workload.student("finetune", seed, {"epochs": 1, **overrides})["train_seconds"]
        finally:
            training.PAD_MULTIPLE = default

    return run


def token_counts(workload: Workload) -> tuple[int, int]:
    """(training rows, real tokens) of one epoch."""
    import datasets

    train = datasets.load_from_disk(f"{workload.data('student')}/train")
    return len(train), sum(len(ids) for ids in train["input_ids"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/config.yaml", help="study config whose settings the runs use")
    parser.add_argument("--tasks", nargs="+", default=None, help="tasks of that config (default: all of them)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every run")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per run; default: resources.train_threads")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (figures are medians)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES, help="which runs to time")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training rows; default: the config's data.train_size (smaller for a quick check)")
    parser.add_argument("--scratch", default=None, help="folder for data and runs (default: a temporary one)")
    args = parser.parse_args()

    study, threads = study_and_threads(args)
    scratch = args.scratch or tempfile.mkdtemp(prefix="bench-throughput-")
    tasks = args.tasks or [t for t in study.tasks if study.family(t) == "classification"]
    results = {}
    for task in tasks:
        workload = Workload(study, task, scratch, threads)
        builders = {
            "plain": lambda: plain_trainer(workload, args.seed, f"{scratch}/plain"),
            "pipeline": lambda: pipeline(workload, args.seed, {}),
            "pipeline_shuffled": lambda: pipeline(workload, args.seed, {"group_by_length": False}),
            "pipeline_bf16": lambda: pipeline(workload, args.seed, {"precision": "bf16"}),
            "pipeline_pad8": lambda: pipeline(workload, args.seed, {}, pad_multiple=8),
        }
        cases = {name: builders[name]() for name in args.cases}
        print(f"{task}: {len(cases)} cases x {args.repeats} repetitions")
        samples = interleaved(cases, args.repeats, warmup=True)
        rows, tokens = token_counts(workload)
        per_case = {name: {"seconds": summary(values), "rows_per_second": rows / summary(values)["median"],
                           "real_tokens_per_second": tokens / summary(values)["median"]}
                    for name, values in samples.items()}
        if "plain" in samples:
            for name in samples:
                per_case[name]["speedup_over_plain"] = ratio(samples["plain"], samples[name])
        results[task] = {"rows": rows, "real_tokens": tokens, "cases": per_case,
                         "group_by_length_default": study.student_params("finetune", task)["group_by_length"]}

    result = {"figure": "pipeline training throughput / plain Trainer throughput", "goal": ">= 1.2",
              "value": {t: r["cases"]["pipeline"]["speedup_over_plain"]["ratio_of_medians"] for t, r in results.items()
                        if "plain" in r["cases"] and "pipeline" in r["cases"]},
              "tasks": results,
              "settings": {"config": args.config, "seed": args.seed, "repeats": args.repeats, "epochs": 1},
              "environment": environment(threads)}
    path = write_result("throughput", result)
    for task, r in results.items():
        print(f"{task} ({r['rows']} rows, {r['real_tokens'] / r['rows']:.1f} real tokens per row, one epoch):")
        for name, row in r["cases"].items():
            speedup = row.get("speedup_over_plain", {}).get("ratio_of_medians")
            print(f"  {name:<18} {row['seconds']['median']:7.1f} s  {row['rows_per_second']:7.1f} rows/s"
                  + (f"  {speedup:5.2f} x plain" if speedup else ""))
    print(f"pipeline / plain: {', '.join(f'{t} {v:.2f}' for t, v in result['value'].items())} (goal >= 1.2)")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
