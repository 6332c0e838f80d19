rule prepare_data:
    input:
        unpack(raw_data_inputs),  # the task's raw files and the tokenizer's: editing them in the mirror reruns it
    output:
        directory(f"{R}/data/{{task}}/{{tokenizer}}"),
    params:
        task=task_param,
        model=model_for_tokenizer,
        mirror=config["assets"]["mirror"],
        max_length=max_length,
        train_size=config["data"]["train_size"],
        eval_size=config["data"]["eval_size"],
        sample_seed=config["data"]["sample_seed"],
        heldout_size=config["data"]["heldout_size"],
        trust_remote_code=config["models"]["trust_remote_code"],
        family_settings=family_settings,
    # every task's data is read (and its bad rows reported) before any training starts, wherever a core is free for
    # it: a data error then costs no compute in the other tasks (with one core, never; with more, a teacher whose
    # data is ready may start beside the last data job)
    priority: 20
    resources:
        **job_resources("data"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/prepare_data/{{task}}.{{tokenizer}}.log",
    script:
        "../workflow_scripts/prepare_data.py"
