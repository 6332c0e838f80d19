rule prepare_data:
    output:
        directory(f"{R}/data/{{task}}/{{tokenizer}}"),
    params:
        model=model_for_tokenizer,
        mirror=config["assets"]["mirror"],
        max_length=max_length,
        train_size=config["data"]["train_size"],
        eval_size=config["data"]["eval_size"],
        sample_seed=config["data"]["sample_seed"],
        trust_remote_code=config["models"]["trust_remote_code"],
        family_settings=family_settings,
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/prepare_data/{{task}}.{{tokenizer}}.log",
    script:
        "../workflow_scripts/prepare_data.py"
