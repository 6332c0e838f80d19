"""Prediction in batches sorted by length against batches in file order: seconds, and the same outputs.

Run:     .venv/bin/python benchmarks/prediction.py
         (config/config.yaml's tasks, the student checkpoint, every evaluation split, 5 interleaved repetitions)
Prints:  per split the seconds of both orders, the speed-up, and the largest difference between their logits
         (padding changes float rounding only).
Writes:  benchmarks/results/prediction.json

`predict_logits` (swa_study/prediction.py) serves the evaluate step (dev and test scores) and the teacher_logits step;
the file-order loop below is the one it replaced.
"""
from __future__ import annotations

import argparse
import tempfile

from _timing import environment, fix_threads, interleaved, ratio, summary, write_result
from _workload import Workload, load_config_study


def file_order_logits(model, dataset, tokenizer, batch_size: int = 128):
    """The previous predict_logits: consecutive rows, each batch padded to its longest row."""
    import numpy as np
    import torch

    from swa_study.losses import forward_logits
    from swa_study.prediction import PadCollator, model_columns

    model.eval()
    collate = PadCollator(tokenizer)
    rows = dataset.select_columns(model_columns(dataset))
    outputs = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collate([rows[i] for i in range(start, min(start + batch_size, len(rows)))])
            outputs.append(forward_logits(model, batch).float().cpu().numpy())
    return np.concatenate(outputs)


def whole(function, *args):
    """A case that `interleaved` times whole (it returns no seconds of its own)."""
    def run() -> None:
        function(*args)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/config.yaml", help="study config naming the tasks and student")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads; default: resources.train_threads")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (figures are medians)")
    parser.add_argument("--scratch", default=None, help="folder for the prepared data (default: a temporary one)")
    args = parser.parse_args()

    study = load_config_study(args.config)
    threads = args.threads or study.config["resources"]["train_threads"]
    fix_threads(threads)
    import numpy as np

    from swa_study.data import load_prepared
    from swa_study.models import load_for_training
    from swa_study.study.assets import mirror_root, resolve_model
    from swa_study.prediction import predict_logits

    scratch = args.scratch or tempfile.mkdtemp(prefix="bench-prediction-")
    splits_out = {}
    for task in [t for t in study.tasks if study.family(t) == "classification"]:
        workload = Workload(study, task, scratch, threads)
        splits = load_prepared(workload.data("student"))
        path = resolve_model(study.model_name("student", task), mirror_root(study.config["assets"]["mirror"]))
        model, tokenizer = load_for_training(path, study.tasks[task], seed=1)
        for name in ("validation", "test"):
            if name not in splits:
                continue
            split = splits[name]
            cases = {"file_order": whole(file_order_logits, model, split, tokenizer),
                     "sorted": whole(predict_logits, model, split, tokenizer)}
            print(f"{task}/{name}: {len(split)} rows")
            samples = interleaved(cases, args.repeats, warmup=True)
            difference = float(np.abs(predict_logits(model, split, tokenizer)
                                      - file_order_logits(model, split, tokenizer)).max())
            splits_out[f"{task}/{name}"] = {
                "rows": len(split), "seconds": {k: summary(v) for k, v in samples.items()},
                "speedup": ratio(samples["file_order"], samples["sorted"]), "max_abs_logit_difference": difference}

    result = {"figure": "prediction seconds, file order / sorted by length", "goal": "> 1, identical outputs",
              "value": {k: v["speedup"]["ratio_of_medians"] for k, v in splits_out.items()}, "splits": splits_out,
              "settings": {"config": args.config, "repeats": args.repeats}, "environment": environment(threads)}
    path = write_result("prediction", result)
    for key, row in splits_out.items():
        print(f"  {key:<16} file order {row['seconds']['file_order']['median']:.2f} s, sorted "
              f"{row['seconds']['sorted']['median']:.2f} s: {row['speedup']['ratio_of_medians']:.2f} x; "
              f"largest logit difference {row['max_abs_logit_difference']:.1e}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
