rule train_teacher:
    input:
        unpack(teacher_inputs),
    output:
        model=directory(f"{R}/teacher/{{task}}/model"),
        train_log=f"{R}/teacher/{{task}}/train_log.jsonl",
        metrics=f"{R}/teacher/{{task}}/metrics.json",
    params:
        task=task_param,
        model=teacher_model,
        mirror=config["assets"]["mirror"],
        trust_remote_code=config["models"]["trust_remote_code"],
        pad_token=config["models"]["pad_token"],
        hp=teacher_hyperparameters,
        seed=config["teacher"]["seed"],
        family_settings=family_settings,
        max_length=max_length,
        stale=STUDY_TABLES,
        tracking_init=TRACKING_INIT,  # written by prepare_tracking before any job starts
    priority: 10  # the KD runs wait for it: start it before the runs that do not
    threads: config["resources"]["train_threads"]
    resources:
        **job_resources("train"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/train_teacher/{{task}}.log",
    benchmark:
        f"{R}/benchmarks/train_teacher/{{task}}.tsv"
    script:
        "../workflow_scripts/train_teacher.py"


rule teacher_logits:
    input:
        model=f"{R}/teacher/{{task}}/model",
        data=teacher_data,
    output:
        logits=f"{R}/teacher/{{task}}/train_logits.npz",
        info=f"{R}/teacher/{{task}}/train_logits.json",
    priority: 10  # the KD runs wait for it: start it before the runs that do not
    threads: config["resources"]["train_threads"]
    resources:
        **job_resources("train"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/teacher_logits/{{task}}.log",
    script:
        "../workflow_scripts/teacher_logits.py"
