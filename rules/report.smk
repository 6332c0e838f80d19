rule aggregate:
    input:
        runs=run_metrics(),
        teachers=teacher_metrics(),
    output:
        summary_csv=f"{R}/tables/summary.csv",
        summary_md=f"{R}/tables/summary.md",
        runs_csv=f"{R}/tables/runs.csv",
        significance=f"{R}/tables/significance.csv",
        compute=f"{R}/tables/compute.csv",
        plot=f"{R}/plots/summary.png",
    params:
        tasks={task: STUDY.tasks[task].main_metric for task in STUDY.tasks},
        methods=STUDY.table_rows(),  # a soup is a row per recipe
        study=config["study"],
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/aggregate.log",
    script:
        "../workflow_scripts/aggregate.py"


rule mlflow_sync:
    input:
        runs=run_metrics(),
        teachers=teacher_metrics(),
        summary=f"{R}/tables/summary.csv",
    output:
        f"{R}/mlflow_sync.json",
    params:
        study=config["study"],
        tracking=config["tracking"],
        study_config=config,
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/mlflow_sync.log",
    script:
        "../workflow_scripts/sync_mlflow.py"
