"""Steps train_student[task, method, seed] and train_trial[task, method, trial]: train the compact student with one
method (finetune, swa, kd, ...), for one of the study's seeds or as one tuning trial.

Inputs:  the task's data tokenised with the student's tokenizer; the cached teacher logits for KD methods; the
         trained teacher model for methods that run it during training (RAIL-KD, MATE-KD).
Params:  task (name and definition), method (the built-in method; a variant's base), model, mirror, hp (the
         method's keys at their defaults, config `student`, `method_params.<method>`, a variant's overrides),
         trust_remote_code, checkpoints (config `checkpoints`), stale (this run's scores and the study's tables,
         deleted when training starts: a failed rerun must not leave the old result on show), tracking, study.
Live:    with tracking enabled, the run appears in MLflow as it trains (tracking/init.json: the prepared store).
         selected (tuned methods, train_student): tuning/<task>/<method>/selected.json, the trial that won on the
         held-out rows, whose setting goes over `hp`.
Outputs: model/ (safetensors; for SWA the averaged weights; SWAG adds swag_moments.safetensors),
         train_log.jsonl (per-step loss and LR),
         train_info.json (resolved hyper-parameters, compute spent, method facts, versions).
Trials:  train_trial writes no model: it scores the trained weights on the held-out rows of the training split
         (heldout.json) and keeps train_log.jsonl and train_info.json (what the trial cost, charged to its method).
Resume:  with checkpoints.every_steps > 0, a resumable checkpoint every that many steps in checkpoints/ beside the
         outputs; a rerun of a killed job continues from the newest intact one (same metrics as an uninterrupted
         run). Removed once the outputs exist, unless checkpoints.keep.
Parallel: resources.train_processes > 1 trains data-parallel: the job re-runs this script under torchrun with that
         many ranks (swa_study/distributed.py); rank 0 alone writes the outputs, the log and the MLflow run.
         MATE-KD always trains in one process (study/parallel.py).
Run:     snakemake --cores all -R train_student     (all runs), or name one output file as the target.
"""
import shutil
import tempfile
import time
from pathlib import Path

from swa_study.checkpoints import attempt_id, claim_folder, files_digest
from swa_study import distributed
from swa_study.evaluation import score_heldout
from swa_study.data import attach_teacher_logits, load_prepared
from swa_study.io import atomic_file, read_json, remove_stale, write_json
from swa_study.methods import build_method
from swa_study.models import load_for_training, save_trained
from swa_study.steps import environment_facts, set_threads, step_log
from swa_study.study.assets import mirror_root, resolve_model
from swa_study.study.parallel import job_processes
from swa_study.study.tasks import task_from_param
from swa_study.tracking.live import LiveRun, log_evaluation, tracking_context
from swa_study.tracking.records import STUDENT_SCRIPT, final_metrics, flatten, version_tags
from swa_study.prediction import model_columns
from swa_study.text_inputs import input_facts
from swa_study.training import TrainSettings, training_arguments


def main(task_param, run_name, method_name, seed, model_name, mirror, trust_remote_code, data_dir, teacher_logits,
         hp, threads, output_model, output_log, output_info, teacher_model=None, checkpoints=None,
         stale=(), tracking=None, tracking_init=None, study="", processes=1, attempt=None, trial=None,
         output_heldout=None, setting=None, selected=None, pad_token=None) -> None:
    arguments = dict(locals())  # what each rank's `main` gets when this job trains data-parallel
    main_rank = distributed.is_main()
    if main_rank:
        remove_stale(stale)  # this run's old scores and the study's tables must not outlive its retraining
    tuning = None
    if selected is not None:  # a tuned method: the seeds train with the setting that won on the held-out rows
        choice = read_json(selected)
        hp = {**hp, **choice["setting"]}
        tuning = {key: choice[key] for key in ("trial", "setting", "heldout_score", "metric", "trials")}
    task = task_from_param(task_param)
    checkpoints = checkpoints or {"every_steps": 0, "keep": False}
    teacher_inputs = [Path(p) for p in (teacher_logits, teacher_model) if p is not None]
    data_info = read_json(Path(data_dir) / "info.json")
    fingerprint = {"model": model_name, "method": method_name, "hp": hp, "seed": seed,
                   "data": data_info, "teacher": files_digest(teacher_inputs),
                   **({"pad_token": pad_token} if pad_token is not None else {})}
    scratch = Path(output_info).parent / "checkpoints"
    if attempt is None:  # the launching process (or the only one) claims the folder; ranks get the attempt
        scratch = claim_folder(scratch, fingerprint)  # kept across a kill
        attempt = attempt_id(scratch)
    if processes > 1 and not distributed.inside_launch():
        distributed.per_device_batch(int(hp["batch_size"]), processes, "student.batch_size")
        distributed.launch(__file__, {**arguments, "attempt": attempt,
                                      "threads": distributed.threads_per_process(threads, processes)}, processes)
        return
    set_threads(threads)
    method = build_method(method_name, task, hp)
    splits = load_prepared(data_dir)
    train, heldout = splits["train"], splits.get("heldout")
    extra: tuple[str, ...] = ()
    if teacher_logits is not None:  # the DAG hands them only to the methods that use them
        train = attach_teacher_logits(train, teacher_logits, same_tokens=task.family == "qa")
        extra = ("teacher_logits",)
    student_path = resolve_model(model_name, mirror_root(mirror))
    init_seed = seed if hp.get("init_seed") is None else int(hp["init_seed"])  # a fixed one: soups' shared start
    model, tokenizer = load_for_training(student_path, task, init_seed, trust_remote_code, pad_token)  # family's head
    method.setup(tokenizer=tokenizer, seed=seed, student_path=student_path, teacher_path=teacher_model, mirror=mirror)
    if not main_rank:  # the other ranks train alike and write nothing the job keeps
        with tempfile.TemporaryDirectory(prefix="swa-rank-") as folder:
            args = training_arguments(TrainSettings.from_params(hp, seed), scratch,
                                      checkpoint_every=checkpoints["every_steps"])
            method.train(model, tokenizer, train.select_columns(model_columns(train, extra)), args,
                         Path(folder) / "train_log.jsonl",
                         heldout_dataset=heldout.select_columns(model_columns(heldout)) if heldout else None)
        return
    run_key = f"{task.name}/{run_name}/" + (f"trial{trial}" if trial is not None else f"seed{seed}")
    kind = {"rule": "train_trial", "kind": "trial", "trial": str(trial)} if trial is not None else \
        {"rule": "train_student", "kind": "seed"}
    context = tracking_context(tracking, tracking_init)
    environment = environment_facts()  # once: the tags and train_info.json name the same commit
    live = LiveRun(context, run_key, f"{task.name}/{run_name}", attempt,
                   params={"task": task.name, "method": run_name, "base_method": method_name, "seed": seed,
                           "model": model_name, **flatten("", hp)},
                   tags={"study": study, "task": task.name, "method": run_name, "seed": str(seed), **kind,
                         **version_tags(environment, STUDENT_SCRIPT)},
                   data_info=data_info, task=task.name, method=method)
    live.start()
    args = training_arguments(TrainSettings.from_params(hp, seed), scratch, checkpoint_every=checkpoints["every_steps"])
    try:
        with atomic_file(output_log) as log_path:
            compute = method.train(model, tokenizer, train.select_columns(model_columns(train, extra)), args,
                                   log_path, job_callbacks=(live,),
                                   heldout_dataset=heldout.select_columns(model_columns(heldout)) if heldout else None)
    except BaseException:  # an error, Ctrl-C: the MLflow run shows FAILED, not RUNNING
        live.fail()
        raise
    finally:
        live.close()
    if output_model is not None:
        save_trained(model, tokenizer, output_model, extra=method.saved_files())
    write_json(output_info, {
        "task": task.name, "method": run_name, "base_method": method_name, "seed": seed, "model": model_name,
        "hyperparameters": hp, "compute": compute, "attempt": attempt, "data": data_info,
        "environment": environment, "inputs": input_facts(tokenizer), **({"trial": trial} if trial is not None else {}),
        **({"tuning": tuning} if tuning is not None else {}),
    })
    if output_heldout is not None:  # a trial: its score on the held-out rows decides the setting, never the dev split
        scores = score_heldout(model, tokenizer, task, heldout)
        write_json(output_heldout, {"task": task.name, "method": run_name, "trial": trial, "seed": seed,
                                    "main_metric": task.main_metric, "setting": setting,
                                    "heldout_rows": len(heldout), "heldout": scores})
        log_evaluation(context, run_key, attempt, final_metrics({"trial_heldout": scores}, compute, time.time()),
                       [Path(output_heldout), Path(output_info), Path(output_log)])
    if not checkpoints["keep"]:
        shutil.rmtree(scratch, ignore_errors=True)


if "snakemake" in globals():
    trial_job = "trial" in snakemake.wildcards.keys()
    with step_log(snakemake.log[0], snakemake.output):
        main(
            task_param=snakemake.params.task,
            run_name=snakemake.wildcards.method,
            method_name=snakemake.params.method,
            seed=snakemake.params.seed if trial_job else int(snakemake.wildcards.seed),
            model_name=snakemake.params.model,
            mirror=snakemake.params.mirror,
            trust_remote_code=snakemake.params.trust_remote_code,
            pad_token=snakemake.params.pad_token,
            data_dir=snakemake.input.data,
            teacher_logits=snakemake.input.get("teacher_logits"),
            hp=snakemake.params.hp,
            threads=snakemake.threads,
            output_model=None if trial_job else snakemake.output.model,
            output_log=snakemake.output.train_log,
            output_info=snakemake.output.info,
            teacher_model=snakemake.input.get("teacher_model"),
            # config, not rule params: none changes a result, so changing one retrains nothing
            checkpoints=snakemake.config["checkpoints"],
            stale=snakemake.params.stale,
            tracking=snakemake.config["tracking"],
            tracking_init=snakemake.params.tracking_init,
            study=snakemake.config["study"],
            processes=job_processes(snakemake.config, snakemake.params.method),
            trial=int(snakemake.wildcards.trial) if trial_job else None,
            output_heldout=snakemake.output.heldout if trial_job else None,
            setting=snakemake.params.setting if trial_job else None,
            selected=snakemake.input.get("selected"),
        )
elif __name__ == "__main__":  # a rank of a data-parallel job (distributed.launch)
    distributed.run_rank(main)
