"""Step train_student[task, method, seed]: train the compact student with one method (finetune, swa, kd, ...).

Inputs:  the task's data tokenised with the student's tokenizer; the cached teacher logits for KD methods; the
         trained teacher model for methods that run it during training (RAIL-KD, MATE-KD).
Params:  task (name and definition), method (the built-in method; a variant's base), model, mirror, hp (the
         method's keys at their defaults, config `student`, `method_params.<method>`, a variant's overrides),
         trust_remote_code.
Outputs: model/ (safetensors; for SWA the averaged weights; SWAG adds swag_moments.safetensors), train_log.jsonl (per-step loss and LR),
         train_info.json (resolved hyper-parameters, compute spent, method facts, versions).
Run:     snakemake --cores all -R train_student     (all runs), or name one output file as the target.
"""
import shutil
from pathlib import Path

from swa_study.data import attach_teacher_logits, load_prepared
from swa_study.io import atomic_file, write_json
from swa_study.methods import build_method
from swa_study.models import load_for_training, save_trained
from swa_study.steps import environment_facts, set_threads, step_log
from swa_study.study.assets import mirror_root, resolve_model
from swa_study.study.tasks import task_from_param
from swa_study.training import TrainSettings, model_columns, training_arguments


def main(task_param, run_name, method_name, seed, model_name, mirror, trust_remote_code, data_dir, teacher_logits,
         hp, threads, output_model, output_log, output_info, teacher_model=None) -> None:
    set_threads(threads)
    task = task_from_param(task_param)
    method = build_method(method_name, task, hp)
    splits = load_prepared(data_dir)
    train, heldout = splits["train"], splits.get("heldout")
    extra: tuple[str, ...] = ()
    if teacher_logits is not None:  # the DAG hands them only to the methods that use them
        train = attach_teacher_logits(train, teacher_logits, same_tokens=task.family == "qa")
        extra = ("teacher_logits",)
    student_path = resolve_model(model_name, mirror_root(mirror))
    init_seed = seed if hp.get("init_seed") is None else int(hp["init_seed"])  # a fixed one: soups' shared start
    model, tokenizer = load_for_training(student_path, task, init_seed, trust_remote_code)  # head per task family
    method.setup(tokenizer=tokenizer, seed=seed, student_path=student_path, teacher_path=teacher_model, mirror=mirror)

    scratch = Path(output_model).parent / "trainer"
    args = training_arguments(TrainSettings.from_params(hp, seed), scratch)
    with atomic_file(output_log) as log_path:
        compute = method.train(model, tokenizer, train.select_columns(model_columns(train, extra)), args, log_path,
                               heldout_dataset=heldout.select_columns(model_columns(heldout)) if heldout else None)
    shutil.rmtree(scratch, ignore_errors=True)
    save_trained(model, tokenizer, output_model, extra=method.saved_files())
    write_json(output_info, {
        "task": task.name, "method": run_name, "base_method": method_name, "seed": seed, "model": model_name,
        "hyperparameters": hp, "compute": compute, "environment": environment_facts(),
    })


if "snakemake" in globals():
    with step_log(snakemake.log[0]):
        main(
            task_param=snakemake.params.task,
            run_name=snakemake.wildcards.method,
            method_name=snakemake.params.method,
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
