rule train_teacher:
    input:
        data=data_dir("{task}", TEACHER_TOKENIZER),
    output:
        model=directory(f"{R}/teacher/{{task}}/model"),
        train_log=f"{R}/teacher/{{task}}/train_log.jsonl",
        metrics=f"{R}/teacher/{{task}}/metrics.json",
    params:
        model=config["models"]["teacher"],
        mirror=config["assets"]["mirror"],
        trust_remote_code=config["models"]["trust_remote_code"],
        hp={k: v for k, v in config["teacher"].items() if k != "seed"},
        seed=config["teacher"]["seed"],
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
        data=data_dir("{task}", TEACHER_TOKENIZER),
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
