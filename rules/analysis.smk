rule analyse_flatness:
    input:
        unpack(flatness_inputs),
    output:
        f"{R}/analysis/{{task}}/{{method}}/seed{{seed}}/flatness.json",
    params:
        task=task_param,
        analysis=analysis_settings(),
        line_start=line_start_method,
    threads: config["resources"]["train_threads"]  # as many as training: the cost ratio compares like with like
    resources:
        **job_resources("train"),
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/analyse_flatness/{{task}}.{{method}}.seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/analyse_flatness/{{task}}.{{method}}.seed{{seed}}.tsv"
    script:
        "../workflow_scripts/analyse_flatness.py"


rule flatness_tables:
    input:
        flatness=flatness_files(),
        runs=run_metrics(),
    output:
        runs=report(f"{R}/analysis/flatness.csv", caption="../report/flatness_runs.rst", category="5. Data files",
                    labels={"file": "flatness.csv"}),
        summary_md=f"{R}/analysis/flatness.md",
        summary_html=report(f"{R}/analysis/flatness.html", caption="../report/flatness.rst", category="2. Flatness",
                            labels={"table": "flatness"}),
        differences=f"{R}/analysis/flatness_differences.csv",
        perturbation=report(f"{R}/analysis/perturbation.csv", caption="../report/perturbation_data.rst",
                            category="5. Data files", labels={"file": "perturbation.csv"}),
        interpolation=report(f"{R}/analysis/interpolation.csv", caption="../report/interpolation_data.rst",
                             category="5. Data files", labels={"file": "interpolation.csv"}),
    params:
        tasks=list(STUDY.tasks),
        methods=list(STUDY.methods),
        sharpness_radius=config["analysis"]["sharpness_radius"],
        statistics=config["statistics"],
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/flatness_tables.log",
    script:
        "../workflow_scripts/flatness_tables.py"


rule plot_flatness:
    input:
        runs=f"{R}/analysis/flatness.csv",
        perturbation=f"{R}/analysis/perturbation.csv",
        interpolation=f"{R}/analysis/interpolation.csv",
    output:
        interpolation=report(f"{R}/plots/{{task}}/interpolation.png", caption="../report/interpolation.rst",
                             category="2. Flatness", subcategory="{task}",
                             labels={"task": "{task}", "figure": "interpolation"}),
        perturbation=report(f"{R}/plots/{{task}}/perturbation.png", caption="../report/perturbation.rst",
                            category="2. Flatness", subcategory="{task}",
                            labels={"task": "{task}", "figure": "perturbation"}),
        sharpness_png=report(f"{R}/plots/{{task}}/sharpness.png", caption="../report/sharpness.rst",
                             category="2. Flatness", subcategory="{task}",
                             labels={"task": "{task}", "figure": "score vs sharpness"}),
        sharpness_svg=f"{R}/plots/{{task}}/sharpness.svg",
    params:
        methods=list(STUDY.methods),
        metric=task_metric,
    conda:
        "../envs/study.yaml"
    log:
        f"{R}/logs/plot_flatness/{{task}}.log",
    script:
        "../workflow_scripts/plot_flatness.py"
