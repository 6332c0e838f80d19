# Equal-budget tuning (config `tuning:`, swa_study/study/tuning.py): every method's trials train once with
# tuning.seed and are scored on the held-out rows of the training split; the best trial per (task, method) is the
# setting its seeds then train with (train_student's `selected` input). The dev split never takes part.
# Its tables live in tuning/ beside the trials, not in tables/: a run's retraining makes tables/ stale, a trial's
# this folder's.
localrules:
    select_setting,
    tuning_tables,


rule train_trial:
    input:
        unpack(trial_inputs),
    output:
        train_log=f"{R}/tuning/{{task}}/{{method}}/trial{{trial}}/train_log.jsonl",
        info=f"{R}/tuning/{{task}}/{{method}}/trial{{trial}}/train_info.json",
        heldout=f"{R}/tuning/{{task}}/{{method}}/trial{{trial}}/heldout.json",
    params:
        task=task_param,
        method=base_method,
        model=student_model,
        mirror=config["assets"]["mirror"],
        trust_remote_code=config["models"]["trust_remote_code"],
        pad_token=config["models"]["pad_token"],
        hp=trial_hyperparameters,
        setting=trial_setting,
        seed=config["tuning"]["seed"],
        stale=stale_after_trial,
        tracking_init=TRACKING_INIT,  # written by prepare_tracking before any job starts
    threads: config["resources"]["train_threads"]
    resources:
        **job_resources("train"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/train_trial/{{task}}.{{method}}.trial{{trial}}.log",
    benchmark:
        f"{R}/benchmarks/train_trial/{{task}}.{{method}}.trial{{trial}}.tsv"
    script:
        "../workflow_scripts/train_student.py"


rule select_setting:
    input:
        trials=task_trial_scores,
    output:
        f"{R}/tuning/{{task}}/{{method}}/selected.json",
    params:
        stale=STUDY_TABLES,
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/select_setting/{{task}}.{{method}}.log",
    script:
        "../workflow_scripts/select_setting.py"


rule tuning_tables:
    input:
        scores=trial_files("heldout.json"),
        infos=trial_files("train_info.json"),
        selected=selection_files(),
    output:
        trials=report(f"{R}/tuning/tuning.csv", caption="../report/tuning_data.rst", category="5. Data files",
                      labels={"file": "tuning.csv"}),
        markdown=f"{R}/tuning/tuning.md",
        html=report(f"{R}/tuning/tuning.html", caption="../report/tuning.rst", category="1. Results",
                    labels={"table": "tuning"}),
        curves=f"{R}/tuning/expected_validation.csv",
        plot=report(f"{R}/tuning/expected_validation.png", caption="../report/tuning_plot.rst", category="1. Results",
                    labels={"figure": "expected validation performance"}),
    params:
        tasks={task: STUDY.tasks[task].main_metric for task in STUDY.tasks},
        methods=[m for m in STUDY.methods if STUDY.is_tuned(m)],
        study=config["study"],
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/tuning_tables.log",
    script:
        "../workflow_scripts/tuning_tables.py"
