# Model soups (config/methods.yaml `kind: soup`): one job per (task, soup, recipe) over the finished runs of the
# soup's `ingredients` method across the study's seeds; its folder looks like a run's, so the tables and MLflow
# show it as a row of its own (`<soup>_uniform`, `<soup>_greedy`).
rule soup:
    input:
        unpack(soup_inputs),
    output:
        model=directory(f"{R}/runs/{{task}}/{{soup}}_{{recipe}}/model"),
        metrics=f"{R}/runs/{{task}}/{{soup}}_{{recipe}}/metrics.json",
        predictions=f"{R}/runs/{{task}}/{{soup}}_{{recipe}}/predictions.tsv",
        info=f"{R}/runs/{{task}}/{{soup}}_{{recipe}}/train_info.json",
        train_log=f"{R}/runs/{{task}}/{{soup}}_{{recipe}}/train_log.jsonl",
    wildcard_constraints:
        soup=soup_names_pattern(),
        recipe="uniform|greedy",
    params:
        task=task_param,
        ingredients=soup_ingredients,
        seeds=STUDY.seeds,
        model=student_model,
        family_settings=family_settings,
        max_length=max_length,
        calibration_bins=config["evaluation"]["calibration_bins"],
        stale=STUDY_TABLES,
    threads: config["resources"]["eval_threads"]
    resources:
        **job_resources("eval"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/soup/{{task}}.{{soup}}_{{recipe}}.log",
    script:
        "../workflow_scripts/make_soup.py"
