# Calibration of every classification run (ECE, NLL, Brier in each metrics.json): the study's table and a
# reliability diagram per task, beside the summary tables.
localrules:
    calibration,  # cheap, like aggregate: on a cluster it runs on the submitting host


rule calibration:
    input:
        runs=run_metrics(),
        infos=run_infos(),  # training seconds (train_info.json, beside each metrics.json)
        baselines=baseline_metrics(list(calibration_tasks())),  # the class-frequency floor of each task
    output:
        table_csv=f"{R}/tables/calibration.csv",
        table_md=f"{R}/tables/calibration.md",
        plots=calibration_plots(),
    params:
        tasks=calibration_tasks(),
        methods=STUDY.table_rows(),
        study=config["study"],
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/calibration.log",
    script:
        "../workflow_scripts/calibration_tables.py"
