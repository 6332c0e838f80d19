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
