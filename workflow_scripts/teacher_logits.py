"""Step teacher_logits[task]: the trained teacher's logits on the training set, computed once per task.

Un-augmented inputs give the same teacher logits every epoch, so every KD run of every seed reuses this file.
Input:   the teacher model and the task's data tokenised with the teacher's tokenizer.
Outputs: train_logits.npz with `idx` (row ids, to check alignment with the student's data), `logits`
         ((rows, classes); QA: (windows, 2, length) start/end logits) and `token_digest` of the teacher's inputs;
         train_logits.json: what the pass cost (seconds, real tokens, FLOPs as 2 x non-embedding parameters x
         tokens as in training, peak memory), charged in tables/compute.csv to the methods that read the logits.
Run:     snakemake --cores all -R teacher_logits
"""
import time

import numpy as np

from swa_study.compute import forward_facts, real_tokens
from swa_study.data import load_prepared, token_digest
from swa_study.io import atomic_file, write_json
from swa_study.models import load_trained
from swa_study.steps import set_threads, step_log
from swa_study.prediction import predict_logits


def main(model_dir: str, data_dir: str, threads: int, output: str, output_info: str | None = None,
         task: str | None = None) -> None:
    set_threads(threads)
    model, tokenizer = load_trained(model_dir)
    train = load_prepared(data_dir)["train"]
    started = time.perf_counter()
    logits = predict_logits(model, train, tokenizer)
    seconds = time.perf_counter() - started
    with atomic_file(output) as staging:
        with open(staging, "wb") as handle:
            np.savez(handle, idx=np.asarray(train["idx"]), logits=logits, token_digest=token_digest(train))
    if output_info is not None:
        write_json(output_info, {"task": task, **forward_facts(model, real_tokens(train), seconds)})


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.model, snakemake.input.data, snakemake.threads, snakemake.output.logits,
             snakemake.output.info, snakemake.wildcards.task)
