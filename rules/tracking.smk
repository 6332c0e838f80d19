rule tracking_init:
    output:
        TRACKING_INIT,
    params:
        study=config["study"],
        tracking=config["tracking"],
        groups=tracking_groups(),
        retry=lambda wildcards: retry_token(TRACKING_INIT),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/tracking_init.log",
    script:
        "../workflow_scripts/init_tracking.py"


rule mlflow_sync:
    input:
        runs=run_metrics(),
        infos=run_infos(),
        teachers=teacher_metrics(),
        summary=f"{R}/tables/summary.csv",
        # Not ancient, unlike the training jobs' copy: Snakemake skips the own checks (our retry token) of jobs
        # downstream of a rerun, so a retried tracking_init must trigger the sync through an input.
        init=TRACKING_INIT,
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
