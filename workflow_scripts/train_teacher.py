"""Step train_teacher[task]: fine-tune the large model once per task; keep the epoch best on held-out rows.

Inputs:  the task's data tokenised with the teacher's tokenizer.
Params:  task (name and definition), model, mirror, hp (config `teacher`), seed, trust_remote_code, the family's
         settings, max_length; threads.
         Classification keeps the epoch best on the held-out slice of the training split (never on the dev split
         the tables report); QA and generation keep the last epoch (span search and decoding per epoch would cost
         more than the teacher's training here). Dev is scored once, at the end.
Outputs: model/ (safetensors), train_log.jsonl (per-step loss and LR, per-epoch dev metrics), metrics.json.
Resume:  an interrupted run resumes from its newest intact checkpoint (checkpoints/: every epoch when it selects on
         held-out rows, else every checkpoints.every_steps steps), removed on success unless checkpoints.keep.
Parallel: resources.train_processes > 1 trains data-parallel under torchrun (swa_study/distributed.py); held-out
         scoring is sharded over the ranks; rank 0 alone scores dev and writes the outputs and the MLflow run.
Run:     snakemake --cores all -R train_teacher
"""
import shutil
import tempfile
from pathlib import Path

from swa_study.checkpoints import attempt_id, claim_folder, latest_checkpoint
from swa_study import distributed
from swa_study.data import load_prepared
from swa_study.families import evaluate_task
from swa_study.io import atomic_file, read_json, remove_stale, write_json
from swa_study.methods import build_method
from swa_study.metrics import compute_task_metrics, predictions_from_logits
from swa_study.models import load_for_training, save_trained
from swa_study.steps import environment_facts, set_threads, step_log
from swa_study.study.assets import mirror_root, resolve_model
from swa_study.study.parallel import job_processes
from swa_study.study.tasks import task_from_param
from swa_study.tracking.live import LiveRun, tracking_context
from swa_study.tracking.records import TEACHER_SCRIPT, flatten, version_tags
from swa_study.prediction import model_columns
from swa_study.text_inputs import input_facts
from swa_study.training import TrainSettings, train_model, training_arguments


def main(task_param, model_name, mirror, trust_remote_code, data_dir, hp, seed, threads,
         output_model, output_log, output_metrics, family_settings=None, max_length=128, checkpoints=None,
         stale=(), tracking=None, tracking_init=None, study="", processes=1, attempt=None, pad_token=None) -> None:
    arguments = dict(locals())  # what each rank's `main` gets when this job trains data-parallel
    main_rank = distributed.is_main()
    if main_rank:
        remove_stale(stale)  # the study's tables: every KD row will change
    # Checkpoints let an interrupted teacher resume; a changed config must not resume from a stale one.
    checkpoints = checkpoints or {"every_steps": 0, "keep": False}
    data_info = read_json(Path(data_dir) / "info.json")
    fingerprint = {"model": model_name, "hp": hp, "seed": seed, "data": data_info,
                   **({"pad_token": pad_token} if pad_token is not None else {})}
    scratch = Path(output_model).parent / "checkpoints"
    if attempt is None:  # the launching process (or the only one) claims the folder; ranks get the attempt
        scratch = claim_folder(scratch, fingerprint)
        attempt = attempt_id(scratch)
    if processes > 1 and not distributed.inside_launch():
        distributed.per_device_batch(int(hp["batch_size"]), processes, "teacher.batch_size")
        distributed.launch(__file__, {**arguments, "attempt": attempt,
                                      "threads": distributed.threads_per_process(threads, processes)}, processes)
        return
    set_threads(threads)
    task = task_from_param(task_param)
    splits = load_prepared(data_dir)
    model, tokenizer = load_for_training(resolve_model(model_name, mirror_root(mirror)), task, seed, trust_remote_code,
                                         pad_token)
    settings = TrainSettings.from_params(hp, seed)
    heldout = splits.get("heldout")  # classification only; None when data.heldout_size is 0
    select = dict(eval_strategy="epoch", save_strategy="epoch", save_total_limit=1, load_best_model_at_end=True,
                  metric_for_best_model=task.main_metric, greater_is_better=True)  # epoch checkpoints: resumable too
    args = training_arguments(settings, scratch, checkpoint_every=checkpoints["every_steps"],
                              **(select if heldout else {}))

    def heldout_metrics(prediction) -> dict[str, float]:
        return compute_task_metrics(task, predictions_from_logits(task, prediction.predictions), prediction.label_ids)

    environment = environment_facts()  # once: the tags and metrics.json name the same commit
    live = LiveRun(tracking_context(tracking if main_rank else None, tracking_init), f"teacher/{task.name}", None,
                   attempt,
                   params={"task": task.name, "model": model_name, "seed": seed, **flatten("", hp)},
                   tags={"study": study, "task": task.name, "method": "teacher", "rule": "train_teacher",
                         "kind": "teacher", **version_tags(environment, TEACHER_SCRIPT)},
                   data_info=data_info, task=task.name)
    live.start()
    try:  # the other ranks train alike (and score their share of the held-out rows), but write nothing the job keeps
        with (atomic_file(output_log) if main_rank else tempfile.TemporaryDirectory(prefix="swa-rank-")) as log_path:
            log_path = Path(log_path) if main_rank else Path(log_path) / "train_log.jsonl"
            compute = train_model(
                model, tokenizer, build_method("finetune", task, hp),
                splits["train"].select_columns(model_columns(splits["train"])), args, log_path,
                eval_dataset=heldout.select_columns(model_columns(heldout)) if heldout else None,
                compute_metrics=heldout_metrics if heldout else None, resume_from=latest_checkpoint(scratch),
                extra_callbacks=(live,),
            )
    except BaseException:  # an error, Ctrl-C: the MLflow run shows FAILED, not RUNNING
        live.fail()
        raise
    finally:
        live.close()
    if not main_rank:
        return
    metrics, _ = evaluate_task(model, tokenizer, task, splits, family_settings or {}, max_length)
    save_trained(model, tokenizer, output_model)
    write_json(output_metrics, {
        "task": task.name, "method": "teacher", "seed": seed, "model": model_name, "main_metric": task.main_metric,
        **metrics, "compute": compute, "hyperparameters": hp, "attempt": attempt, "data": data_info,
        "environment": environment, "inputs": input_facts(tokenizer),
    })
    if not checkpoints["keep"]:
        shutil.rmtree(scratch, ignore_errors=True)


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(
            task_param=snakemake.params.task,
            model_name=snakemake.params.model,
            mirror=snakemake.params.mirror,
            trust_remote_code=snakemake.params.trust_remote_code,
            pad_token=snakemake.params.pad_token,
            data_dir=snakemake.input.data,
            hp=snakemake.params.hp,
            seed=snakemake.params.seed,
            threads=snakemake.threads,
            output_model=snakemake.output.model,
            output_log=snakemake.output.train_log,
            output_metrics=snakemake.output.metrics,
            family_settings=snakemake.params.family_settings,
            max_length=snakemake.params.max_length,
            # config, not rule params: none changes a result, so changing one retrains nothing
            checkpoints=snakemake.config["checkpoints"],
            stale=snakemake.params.stale,
            tracking=snakemake.config["tracking"],
            tracking_init=snakemake.params.tracking_init,
            study=snakemake.config["study"],
            processes=job_processes(snakemake.config),
        )
elif __name__ == "__main__":  # a rank of a data-parallel job (distributed.launch)
    distributed.run_rank(main)
