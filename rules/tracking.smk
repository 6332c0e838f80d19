rule mlflow_sync:
    input:
        runs=run_metrics(),
        infos=run_infos(),
        teachers=teacher_metrics(),
        trials=trial_files("heldout.json"),
        selected=selection_files(),
        summary=f"{R}/tables/summary.csv",
        **evidence_files(),
    output:
        f"{R}/mlflow_sync.json",
    params:
        study=config["study"],
        tracking=config["tracking"],
        study_config=config,
        retry=lambda wildcards: retry_token(f"{R}/mlflow_sync.json"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/mlflow_sync.log",
    script:
        "../workflow_scripts/sync_mlflow.py"


# Trained students as MLflow models (tracking.log_models) and the best seed per (task, method), chosen on the
# held-out training rows, in the model registry (tracking.registered_model): after mlflow_sync, which gives every
# seed its run id. Classification and QA (span) models; generation's seq2seq models stay artifacts of their runs.
rule register_model:
    input:
        unpack(registry_inputs),
        sync=f"{R}/mlflow_sync.json",
    output:
        f"{R}/registry/{{task}}/{{method}}.json",
    params:
        task=task_param,
        seeds=lambda wildcards: registry_seeds(wildcards.task),
        name_template=lambda wildcards: config["tracking"]["registered_model"],  # a function: its braces stay
    threads: config["resources"]["eval_threads"]
    resources:
        **job_resources("eval"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/register_model/{{task}}.{{method}}.log",
    script:
        "../workflow_scripts/register_model.py"
