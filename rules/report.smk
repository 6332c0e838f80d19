# Cheap steps on every run's files: on a cluster they run on the submitting host (no queue wait), where the
# tracking server is also reachable.
localrules:
    aggregate,
    mlflow_sync,


rule aggregate:
    input:
        runs=run_metrics(),
        infos=run_infos(),
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
