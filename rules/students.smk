rule train_student:
    input:
        unpack(student_inputs),
    output:
        model=directory(f"{R}/runs/{{task}}/{{method}}/seed{{seed}}/model"),
        train_log=f"{R}/runs/{{task}}/{{method}}/seed{{seed}}/train_log.jsonl",
        info=f"{R}/runs/{{task}}/{{method}}/seed{{seed}}/train_info.json",
    params:
        task=task_param,
        method=base_method,
        model=student_model,
        mirror=config["assets"]["mirror"],
        trust_remote_code=config["models"]["trust_remote_code"],
        pad_token=config["models"]["pad_token"],
        hp=method_hyperparameters,
        stale=stale_after_training,
        tracking_init=TRACKING_INIT,  # written by prepare_tracking before any job starts
    threads: config["resources"]["train_threads"]
    resources:
        **job_resources("train"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/train_student/{{task}}.{{method}}.seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train_student/{{task}}.{{method}}.seed{{seed}}.tsv"
    script:
        "../workflow_scripts/train_student.py"
