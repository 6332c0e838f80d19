rule train_teacher:
    input:
        data=teacher_data,
    output:
        model=directory(f"{R}/teacher/{{task}}/model"),
        train_log=f"{R}/teacher/{{task}}/train_log.jsonl",
        metrics=f"{R}/teacher/{{task}}/metrics.json",
    params:
        model=lambda wildcards: model_name("teacher", wildcards.task),
        mirror=config["assets"]["mirror"],
        trust_remote_code=config["models"]["trust_remote_code"],
        hp={k: v for k, v in config["teacher"].items() if k != "seed"},
        seed=config["teacher"]["seed"],
        family_settings=family_settings,
        max_length=config["data"]["max_length"],
    threads: config["resources"]["train_threads"]
    resources:
        **train_resources(),
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
        f"{R}/teacher/{{task}}/train_logits.npz",
    threads: config["resources"]["train_threads"]
    resources:
        **train_resources(),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/teacher_logits/{{task}}.log",
    script:
        "../workflow_scripts/teacher_logits.py"
