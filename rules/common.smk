# Helpers shared by the rules: the checked study, path builders, input functions, target lists.
# Planning imports only the study layer (swa_study.study: no torch, transformers, datasets or evaluate).
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from swa_study.study.assets import AssetError, mirror_root, model_slug, resolve_model
from swa_study.study.config import ConfigError, read_config_file
from swa_study.study.plan import load_study
from swa_study.study.sources import describe_source

CONFIG_FILES = [str(p) for p in workflow.overwrite_configfiles] or ["config/config.yaml"]
CONFIG_NAME = ", ".join(CONFIG_FILES)


def fail(message):
    """Stop before any job runs, with one line that names the file and key."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(1)


def check_study(config):
    """The study of `config`, checked against config/schema.yaml, methods.yaml and tasks.yaml (defaults filled)."""
    try:
        for path in CONFIG_FILES:  # duplicate keys, which Snakemake's own YAML loading lets through
            read_config_file(path)
        return load_study(config, CONFIG_NAME, Path(workflow.basedir) / "config")
    except ConfigError as error:
        fail(str(error))


def check_assets(study):
    """Every model and data file the study names must resolve before any compute is spent."""
    try:
        root = mirror_root(study.config["assets"]["mirror"])
        for task in study.tasks:
            for role in ("teacher", "student") if study.needs_teacher(task) else ("student",):
                resolve_model(study.model_name(role, task), root, study.model_key(role, task))
            describe_source(study.tasks[task], root)
    except AssetError as error:
        fail(str(error))


def note_skipped_pairs(study):
    """Methods defined only for sentence-level logits (RAIL-KD, MATE-KD, Annealing-KD) skip span and text tasks."""
    for task, skipped in study.skipped().items():
        sys.stderr.write(f"note: {', '.join(skipped)} not defined for {task} ({study.family(task)}); skipped\n")


STUDY = check_study(config)
R = config["results_dir"].rstrip("/")


wildcard_constraints:
    task="|".join(map(re.escape, STUDY.tasks)),
    method="|".join(map(re.escape, STUDY.methods)),
    seed=r"\d+",


def model_for_tokenizer(wildcards):
    """The model whose tokenizer a prepared-data folder uses (teacher and student may share one)."""
    names = {model_slug(STUDY.model_name(role, wildcards.task)): STUDY.model_name(role, wildcards.task)
             for role in ("teacher", "student")}
    return names[wildcards.tokenizer]


def data_dir(task, role):
    """The task's data tokenised for the teacher's or the student's checkpoint."""
    return f"{R}/data/{task}/{model_slug(STUDY.model_name(role, task))}"


def teacher_data(wildcards):
    return data_dir(wildcards.task, "teacher")


def student_data(wildcards):
    return data_dir(wildcards.task, "student")


def task_param(wildcards):
    """The task's name and definition: editing a task's definition reruns its jobs."""
    return STUDY.task_param(wildcards.task)


def family_settings(wildcards):
    """The task family's own config settings (`qa:`, `generation:`: windows, decoding); none for classification."""
    return STUDY.task_settings(wildcards.task)


def max_length(wildcards):
    return STUDY.input_length(wildcards.task)


def teacher_hyperparameters(wildcards):
    return STUDY.teacher_params(wildcards.task)


def student_model(wildcards):
    return STUDY.model_name("student", wildcards.task)


def teacher_model(wildcards):
    return STUDY.model_name("teacher", wildcards.task)


def run_dir(task, method, seed):
    return f"{R}/runs/{task}/{method}/seed{seed}"


def teacher_dir(task):
    return f"{R}/teacher/{task}"


def student_inputs(wildcards):
    """The student's data, plus the cached teacher logits and/or the trained teacher model when its method uses them."""
    needs = STUDY.teacher_inputs(wildcards.method, wildcards.task)
    inputs = {"data": data_dir(wildcards.task, "student")}
    if "logits" in needs:
        inputs["teacher_logits"] = f"{teacher_dir(wildcards.task)}/train_logits.npz"
    if "model" in needs:  # RAIL-KD, MATE-KD, word-level KD for generation: the teacher runs inside training
        inputs["teacher_model"] = f"{teacher_dir(wildcards.task)}/model"
    return inputs


def base_method(wildcards):
    """The built-in method a run trains with (a variant's base)."""
    return STUDY.methods[wildcards.method].base.name


def method_hyperparameters(wildcards):
    return STUDY.student_params(wildcards.method, wildcards.task)


def run_metrics():
    """Every row's runs: the training runs, and the soups (which write a run's files)."""
    runs = [f"{run_dir(task, method, seed)}/metrics.json" for task, method, seed in STUDY.runs()]
    return runs + soup_metrics()


# --- model soups (rules/soups.smk) ---------------------------------------------------------------------------------
def soup_metrics():
    return [f"{R}/runs/{task}/{soup}_{recipe}/metrics.json" for task, soup, recipe in STUDY.soups()]


def soup_names_pattern():
    """The soup wildcard's values: the study's soups (a pattern that matches nothing when it has none)."""
    names = [name for name, choice in STUDY.methods.items() if choice.base.is_soup]
    return "|".join(map(re.escape, names)) or "(?!)"


def soup_ingredients(wildcards):
    return STUDY.soup_ingredients(wildcards.soup)


def soup_inputs(wildcards):
    """The ingredient runs (the soup's method, every seed of the study, in seed order) and the student's data."""
    method = STUDY.soup_ingredients(wildcards.soup)
    runs = [run_dir(wildcards.task, method, seed) for seed in STUDY.seeds]
    return {"models": [f"{run}/model" for run in runs], "infos": [f"{run}/train_info.json" for run in runs],
            "data": data_dir(wildcards.task, "student")}


def teacher_metrics():
    """The teacher's scores, for every task where some method of the study learns from it."""
    return [f"{teacher_dir(task)}/metrics.json" for task in STUDY.tasks if STUDY.needs_teacher(task)]


def calibration_tasks():
    """{task: main metric} of the tasks with class probabilities (classification, not regression)."""
    return {name: task.main_metric for name, task in STUDY.tasks.items()
            if task.family == "classification" and not task.is_regression}


def calibration_plots():
    return [f"{R}/plots/reliability_{task}.png" for task in calibration_tasks()]


def summary_targets():
    targets = [f"{R}/tables/summary.csv", f"{R}/tables/summary.md", f"{R}/tables/calibration.md"]
    if config["tracking"]["enabled"]:
        targets.append(f"{R}/mlflow_sync.json")
    return targets


def train_resources():
    return {
        "mem_mb": config["resources"]["train_mem_mb"],
        "runtime": config["resources"]["train_runtime_min"],
        "gpu": config["resources"]["gpus"],
    }
