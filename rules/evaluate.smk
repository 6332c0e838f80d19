rule evaluate:
    input:
        model=f"{R}/runs/{{task}}/{{method}}/seed{{seed}}/model",
        info=f"{R}/runs/{{task}}/{{method}}/seed{{seed}}/train_info.json",
        data=student_data,
    output:
        metrics=f"{R}/runs/{{task}}/{{method}}/seed{{seed}}/metrics.json",
        predictions=f"{R}/runs/{{task}}/{{method}}/seed{{seed}}/predictions.tsv",
    params:
        task=task_param,
        family_settings=family_settings,
        max_length=max_length,
        calibration_bins=config["evaluation"]["calibration_bins"],
        stale=STUDY_TABLES,
        tracking_init=TRACKING_INIT,  # written by prepare_tracking before any job starts
    threads: config["resources"]["eval_threads"]
    resources:
        **job_resources("eval"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/evaluate/{{task}}.{{method}}.seed{{seed}}.log",
    script:
        "../workflow_scripts/evaluate_run.py"
