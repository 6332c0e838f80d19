# Cheap steps on every run's files: on a cluster they run on the submitting host (no queue wait), where the
# tracking server is also reachable.
localrules:
    aggregate,
    mlflow_sync,
    trivial_baseline,


# The floor beside every score: the majority class of the training rows (regression: their mean score), scored
# on dev and test with the task's metrics. Reads only the labels of the prepared data: no model, no torch.
rule trivial_baseline:
    input:
        data=student_data,
    output:
        f"{R}/baseline/{{task}}/metrics.json",
    params:
        task=task_param,
        calibration_bins=config["evaluation"]["calibration_bins"],
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/trivial_baseline/{{task}}.log",
    script:
        "../workflow_scripts/trivial_baseline.py"


rule aggregate:
    input:
        runs=run_metrics(),
        infos=run_infos(),
        teachers=teacher_metrics(),
        logits=teacher_logits_facts(),
        baselines=baseline_metrics(),
        selected=selection_files(),
        trial_infos=trial_files("train_info.json"),
    output:
        summary_csv=f"{R}/tables/summary.csv",
        summary_md=f"{R}/tables/summary.md",
        summary_html=report(f"{R}/tables/summary.html", caption="../report/summary.rst", category="1. Results",
                            labels={"table": "summary"}),
        runs_csv=report(f"{R}/tables/runs.csv", caption="../report/runs.rst", category="5. Data files",
                        labels={"file": "runs.csv"}),
        significance=report(f"{R}/tables/significance.csv", caption="../report/significance.rst",
                            category="5. Data files", labels={"file": "significance.csv"}),
        significance_html=report(f"{R}/tables/significance.html", caption="../report/significance.rst",
                                 category="1. Results", labels={"table": "significance"}),
        compute=report(f"{R}/tables/compute.csv", caption="../report/compute.rst", category="5. Data files",
                       labels={"file": "compute.csv"}),
        compute_html=report(f"{R}/tables/compute.html", caption="../report/compute.rst", category="3. Compute",
                            labels={"table": "compute"}),
        plot=report(f"{R}/plots/summary.png", caption="../report/summary_plot.rst", category="1. Results",
                    labels={"figure": "summary"}),
    params:
        tasks={task: STUDY.tasks[task].main_metric for task in STUDY.tasks},
        methods=STUDY.table_rows(),  # a soup is a row per recipe
        teacher_needs=teacher_needs(),
        statistics=config["statistics"],
        study=config["study"],
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/aggregate.log",
    script:
        "../workflow_scripts/aggregate.py"


rule plot_task:
    input:
        runs=task_run_files("metrics.json"),
        logs=task_run_files("train_log.jsonl"),
        infos=task_run_files("train_info.json"),
        compute=f"{R}/tables/compute.csv",
        teachers=task_teacher_metrics,
        baseline=task_baseline,
    output:
        scores_png=report(f"{R}/plots/{{task}}/scores.png", caption="../report/scores.rst", category="1. Results",
                          subcategory="{task}", labels={"task": "{task}", "figure": "scores"}),
        scores_svg=f"{R}/plots/{{task}}/scores.svg",
        training=report(f"{R}/plots/{{task}}/training.png", caption="../report/training.rst",
                        category="4. Training", subcategory="{task}", labels={"task": "{task}", "figure": "training"}),
        compute=report(f"{R}/plots/{{task}}/compute.png", caption="../report/compute_plot.rst",
                       category="3. Compute", subcategory="{task}", labels={"task": "{task}", "figure": "compute"}),
    params:
        methods=list(STUDY.methods),
        metric=task_metric,
        statistics=config["statistics"],
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/plot_task/{{task}}.log",
    script:
        "../workflow_scripts/plot_task.py"

