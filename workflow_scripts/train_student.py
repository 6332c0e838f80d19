"""Step train_student[task, method, seed]: train the compact student with one method (finetune, swa, kd, ...).

Inputs:  the task's data tokenised with the student's tokenizer; the cached teacher logits for KD methods; the
         trained teacher model for methods that run it during training (RAIL-KD, MATE-KD).
Params:  model, mirror, hp (config `student` with `method_params.<method>` on top), trust_remote_code.
Outputs: model/ (safetensors; for SWA the averaged weights), train_log.jsonl (per-step loss and LR),
         train_info.json (resolved hyper-parameters, compute spent, method facts, versions).
Run:     snakemake --cores all -R train_student     (all runs), or name one output file as the target.
"""
import shutil
from pathlib import Path

import numpy as np

from swa_study.assets import mirror_root, resolve_model
from swa_study.data import DataError, load_prepared, token_digest
from swa_study.io import atomic_file, write_json
from swa_study.methods import build_method
from swa_study.models import load_for_training, save_trained
from swa_study.steps import environment_facts, set_threads, step_log
from swa_study.tasks import get_task
from swa_study.training import TrainSettings, model_columns, training_arguments


def attach_teacher_logits(train, logits_path: str, same_tokens: bool):
    """Add the cached teacher logits as a column, after checking they belong to exactly these rows.

    With `same_tokens` (QA: one logit per token position) the teacher's windows must also hold the same token ids.
    """
    cached = np.load(logits_path)
    if not np.array_equal(cached["idx"], np.asarray(train["idx"])):
        raise DataError(f"{logits_path}: teacher logits are for other training rows than the student's data")
    if same_tokens and str(cached["token_digest"]) != token_digest(train):
        raise DataError(f"{logits_path}: the teacher tokenised the training windows differently from the student; "
                        "start/end logits need teacher and student to share one tokenizer and window length")
    return train.add_column("teacher_logits", [row.tolist() for row in cached["logits"]])


def main(task_name, method_name, seed, model_name, mirror, trust_remote_code, data_dir, teacher_logits, hp,
         threads, output_model, output_log, output_info, teacher_model=None) -> None:
    set_threads(threads)
    task = get_task(task_name)
    method = build_method(method_name, task, hp)
    splits = load_prepared(data_dir)
    train, validation = splits["train"], splits["validation"]
    extra: tuple[str, ...] = ()
    if "logits" in method.teacher_inputs(task):
        train = attach_teacher_logits(train, teacher_logits, same_tokens=task.family == "qa")
        extra = ("teacher_logits",)
    student_path = resolve_model(model_name, mirror_root(mirror))
    model, tokenizer = load_for_training(student_path, task, seed, trust_remote_code)  # head per task family
    method.setup(tokenizer=tokenizer, seed=seed, student_path=student_path, teacher_path=teacher_model, mirror=mirror)

    scratch = Path(output_model).parent / "trainer"
    args = training_arguments(TrainSettings.from_params(hp, seed), scratch)
    with atomic_file(output_log) as log_path:
        compute = method.train(model, tokenizer, train.select_columns(model_columns(train, extra)), args, log_path,
                               eval_dataset=validation.select_columns(model_columns(validation)))  # dev: Annealing-KD
    shutil.rmtree(scratch, ignore_errors=True)
    save_trained(model, tokenizer, output_model)
    write_json(output_info, {
        "task": task.name, "method": method_name, "seed": seed, "model": model_name,
        "hyperparameters": hp, "compute": compute, "environment": environment_facts(),
    })


if "snakemake" in globals():
    with step_log(snakemake.log[0]):
        main(
            task_name=snakemake.wildcards.task,
            method_name=snakemake.wildcards.method,
            seed=int(snakemake.wildcards.seed),
            model_name=snakemake.params.model,
            mirror=snakemake.params.mirror,
            trust_remote_code=snakemake.params.trust_remote_code,
            data_dir=snakemake.input.data,
            teacher_logits=snakemake.input.get("teacher_logits"),
            hp=snakemake.params.hp,
            threads=snakemake.threads,
            output_model=snakemake.output.model,
            output_log=snakemake.output.train_log,
            output_info=snakemake.output.info,
            teacher_model=snakemake.input.get("teacher_model"),
        )
