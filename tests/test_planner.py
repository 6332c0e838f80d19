"""The real planner runs without the deep-learning stack: `snakemake -n` with torch, transformers, datasets and
evaluate made unimportable must still plan the whole tiny study.

The import check in test_config.py covers the study layer's modules; this one covers everything the Snakefile and
rules/*.smk execute while planning (input functions, asset checks, params), which an import added to common.smk
or to an input function would break.
"""
import os
import re
import subprocess
import sys

import yaml

from tiny_study import REPO, SNAKEMAKE, build_mirror, tiny_config

BLOCKED = ("torch", "transformers", "datasets", "evaluate")


def blocking_stubs(folder, who: str):
    """Packages named like the deep-learning stack that shadow the real ones and refuse to load."""
    for name in BLOCKED:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('the {who} imported {name}')\n")
    return folder


def test_snakemake_plans_the_tiny_study_with_the_deep_learning_stack_unimportable(tmp_path):
    mirror = build_mirror(tmp_path / "mirror")
    stubs = blocking_stubs(tmp_path / "stubs", "planner")
    workdir = tmp_path / "study"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(tiny_config(mirror)))
    env = {**os.environ, "PYTHONPATH": str(stubs)}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env,
                           capture_output=True, text=True)
    assert "the planner imported torch" in probe.stderr  # the stubs do shadow the installed packages

    result = subprocess.run(
        [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "2"],
        env=env, capture_output=True, text=True, cwd=workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "the planner imported" not in output
    planned = re.search(r"^train_student\s+(\d+)$", output, re.MULTILINE)
    assert planned and int(planned.group(1)) == 2 * 7 * 2, output[-3000:]  # tasks x methods x seeds


REPORTING_STEPS = ("aggregate", "calibration_tables", "flatness_tables", "plot_task", "plot_flatness", "sync_mlflow",
                   "init_tracking")


def test_the_table_plot_and_mlflow_steps_load_without_the_deep_learning_stack(tmp_path):
    """Those jobs read JSON and write tables, plots and MLflow records: importing torch and transformers would cost
    each of them seconds (a tiny study has a dozen), so a module they share must not import them at the top."""
    stubs = blocking_stubs(tmp_path / "stubs", "step")
    scripts = REPO / "workflow_scripts"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(stubs), str(scripts)])}
    imports = "; ".join(f"import {step}" for step in REPORTING_STEPS)  # no `snakemake` global: main does not run
    result = subprocess.run([sys.executable, "-c", imports], capture_output=True, text=True, cwd=scripts, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    probe = subprocess.run([sys.executable, "-c", "import train_student"], capture_output=True, text=True,
                           cwd=scripts, env=env)
    assert "the step imported" in probe.stderr  # the stubs do block: a training step needs torch


SCORING_STEPS = ("evaluate_run", "teacher_logits", "analyse_flatness", "make_soup")


def test_the_scoring_steps_load_no_trainer_and_score_classification_without_evaluate():
    """The scoring steps use neither the Trainer nor `evaluate` (whose import pulls in transformers' pipelines),
    and a study runs one evaluate job per run: neither may load there."""
    check = "; ".join([
        *(f"import {step}" for step in SCORING_STEPS),
        "import numpy as np",
        "from swa_study.metrics import compute_task_metrics",
        "from swa_study.study.tasks import builtin_task",
        "print(compute_task_metrics(builtin_task('stsb'), np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 5.0])))",
        "print(compute_task_metrics(builtin_task('sst2'), np.array([1, 0, 1]), np.array([1, 1, 1])))",
        "print(sorted(m for m in ('transformers.trainer', 'evaluate') if m in sys.modules))",
    ])
    scripts = REPO / "workflow_scripts"
    result = subprocess.run([sys.executable, "-c", f"import sys; {check}"], capture_output=True, text=True,
                            cwd=scripts, env={**os.environ, "PYTHONPATH": str(scripts)})
    assert result.returncode == 0, result.stderr[-2000:]
    regression, classification, loaded = result.stdout.splitlines()[-3:]
    assert "'spearmanr': 1.0" in regression and classification == "{'accuracy': 0.6666666666666666}"
    assert loaded == "[]"
