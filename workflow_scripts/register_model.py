"""Step register_model[task, method]: the method's students as MLflow models, the best seed in the model registry.

Inputs:  every seed's saved model and metrics.json, the student-tokenised data (its held-out training rows), and
         mlflow_sync.json (the MLflow run id of every seed).
Params:  task (name and definition), the seeds, tracking.log_models (log every seed, not only the best),
         tracking.registered_model (the name template: {study}, {task}, {method}; null = log only).
Output:  registry/<task>/<method>.json: each seed's held-out score, the chosen seed, its model id, the registered
         name and version (status `pending` when the store was unreachable; the next `snakemake` run retries).
Load:    mlflow.transformers.load_model("models:/<name>/<version>")
"""
from swa_study.data import load_prepared
from swa_study.evaluation import score_heldout
from swa_study.io import read_json, write_json
from swa_study.models import load_trained
from swa_study.steps import set_threads, step_log
from swa_study.study.tasks import task_from_param
from swa_study.tracking.records import final_metrics
from swa_study.tracking.registry import best_seed, log_run_model, register
from swa_study.tracking.store import client_for, warn_once


def main(task_param: dict, method: str, seeds: list[int], model_dirs: list[str], metric_files: list[str],
         data_dir: str, sync_file: str, tracking: dict, name_template: str | None, study: str, threads: int,
         output: str) -> None:
    set_threads(threads)
    task = task_from_param(task_param)
    heldout = load_prepared(data_dir).get("heldout")
    models = {seed: load_trained(folder) for seed, folder in zip(seeds, model_dirs)}
    scores = {seed: score_heldout(model, tokenizer, task, heldout)[task.main_metric]
              for seed, (model, tokenizer) in models.items()}
    chosen = best_seed(scores)
    record = {"task": task.name, "method": method, "main_metric": task.main_metric, "heldout": scores,
              "chosen_seed": chosen}
    sync = read_json(sync_file)
    if sync.get("status") != "complete":
        write_json(output, {**record, "status": "pending", "reason": "mlflow_sync is pending"})
        return
    try:
        client = client_for(tracking["uri"])
        import mlflow

        mlflow.set_tracking_uri(tracking["uri"])
        model_ids = {}
        for seed, metrics_file in zip(seeds, metric_files):
            if seed != chosen and not tracking["log_models"]:
                continue
            run_id = sync["runs"][f"{task.name}/{method}/seed{seed}"]
            metrics = {m.key: m.value for m in final_metrics(read_json(metrics_file), {}, 0)}
            model_ids[seed] = log_run_model(client, run_id, sync["experiment_id"], *models[seed], task.family,
                                            {**metrics, "heldout_" + task.main_metric: scores[seed]})
        record.update(status="complete", model_ids=model_ids)
        if name_template:
            name = name_template.format(study=study, task=task.name, method=method)
            validation = read_json(metric_files[seeds.index(chosen)])["validation"]
            version = register(client, name, model_ids[chosen], {
                "study": study, "task": task.name, "method": method, "seed": chosen,
                f"heldout_{task.main_metric}": scores[chosen],
                **{f"validation_{key}": value for key, value in validation.items() if isinstance(value, float)}})
            record.update(registered_model=name, version=version, model_uri=f"models:/{name}/{version}")
    except Exception as error:  # noqa: BLE001  (an outage must not fail a finished study)
        warn_once({}, tracking["uri"], error, "logging the models")
        record.update(status="pending", reason=str(error).splitlines()[0][:300])
    write_json(output, record)


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.params.task, snakemake.wildcards.method, snakemake.params.seeds,
             list(snakemake.input.models), list(snakemake.input.metrics), snakemake.input.data,
             snakemake.input.sync, snakemake.config["tracking"], snakemake.params.name_template,
             snakemake.config["study"], snakemake.threads, snakemake.output[0])
