# Helpers shared by the rules: config checks, path builders, input functions, target lists.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from swa_study.assets import AssetError, mirror_root, model_slug, resolve_model
from swa_study.data import describe_source
from swa_study.methods import METHODS
from swa_study.study_config import (ConfigError, check_config as _check_config, input_length, student_params,
                                    task_settings, teacher_params)
from swa_study.tasks import TASKS, get_task

CONFIG_NAME = ", ".join(str(p) for p in workflow.overwrite_configfiles) or "config/config.yaml"


def fail(message):
    """Stop before any job runs, with one line that names the file and key."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(1)


def check_config(config, schema_path, config_name):
    try:
        _check_config(config, schema_path, config_name)
    except ConfigError as error:
        fail(str(error))


def model_name(role, task):
    """The teacher or student checkpoint for `task`: its family's pair under models.by_family, else the default."""
    pair = config["models"].get("by_family", {}).get(get_task(task).family)
    return pair[role] if pair else config["models"][role]


def model_key(role, task):
    """The config key that names `model_name(role, task)`, for error messages."""
    family = get_task(task).family
    return f"models.by_family.{family}.{role}" if family in config["models"].get("by_family", {}) else f"models.{role}"


def check_assets():
    """Every model and data file the config names must resolve before any compute is spent."""
    try:
        root = mirror_root(config["assets"]["mirror"])
        for task in config["tasks"]:
            for role in ("teacher", "student"):
                resolve_model(model_name(role, task), root, model_key(role, task))
            describe_source(get_task(task), root)
    except AssetError as error:
        fail(str(error))


def applies(method, task):
    return get_task(task).family in METHODS[method].families


def note_skipped_pairs():
    """Methods defined only for sentence-level logits (RAIL-KD, MATE-KD, Annealing-KD) skip span and text tasks."""
    for task in config["tasks"]:
        skipped = [m for m in config["methods"] if not applies(m, task)]
        if skipped:
            sys.stderr.write(f"note: {', '.join(skipped)} not defined for {task} ({get_task(task).family}); skipped\n")


R = config.get("results_dir", "results")


wildcard_constraints:
    task="|".join(TASKS),
    method="|".join(METHODS),
    seed=r"\d+",


def model_for_tokenizer(wildcards):
    """The model whose tokenizer a prepared-data folder uses (teacher and student may share one)."""
    names = {model_slug(model_name(role, wildcards.task)): model_name(role, wildcards.task) for role in ("teacher", "student")}
    return names[wildcards.tokenizer]


def data_dir(task, role):
    """The task's data tokenised for the teacher's or the student's checkpoint."""
    return f"{R}/data/{task}/{model_slug(model_name(role, task))}"


def teacher_data(wildcards):
    return data_dir(wildcards.task, "teacher")


def student_data(wildcards):
    return data_dir(wildcards.task, "student")


def family(wildcards):
    return get_task(wildcards.task).family


def family_settings(wildcards):
    """The task family's own config settings (`qa:`, `generation:`: windows, decoding); none for classification."""
    return task_settings(config, family(wildcards))


def max_length(wildcards):
    return input_length(config, family(wildcards))


def teacher_hyperparameters(wildcards):
    return teacher_params(config, family(wildcards))


def run_dir(task, method, seed):
    return f"{R}/runs/{task}/{method}/seed{seed}"


def teacher_dir(task):
    return f"{R}/teacher/{task}"


def student_inputs(wildcards):
    """The student's data, plus the cached teacher logits and/or the trained teacher model when its method uses them."""
    needs = METHODS[wildcards.method].teacher_inputs(get_task(wildcards.task))
    inputs = {"data": data_dir(wildcards.task, "student")}
    if "logits" in needs:
        inputs["teacher_logits"] = f"{teacher_dir(wildcards.task)}/train_logits.npz"
    if "model" in needs:  # RAIL-KD, MATE-KD, word-level KD for generation: the teacher runs inside training
        inputs["teacher_model"] = f"{teacher_dir(wildcards.task)}/model"
    return inputs


def method_hyperparameters(wildcards):
    return student_params(config, wildcards.method, family(wildcards))


def run_metrics():
    return [
        f"{run_dir(task, method, seed)}/metrics.json"
        for task in config["tasks"]
        for method in config["methods"]
        if applies(method, task)
        for seed in config["seeds"]
    ]


def teacher_metrics():
    """The teacher's scores, for every task where some method of the study learns from it."""
    return [
        f"{teacher_dir(task)}/metrics.json"
        for task in config["tasks"]
        if any(applies(m, task) and METHODS[m].teacher_inputs(get_task(task)) for m in config["methods"])
    ]


def summary_targets():
    targets = [f"{R}/tables/summary.csv", f"{R}/tables/summary.md"]
    if config["tracking"]["enabled"]:
        targets.append(f"{R}/mlflow_sync.json")
    return targets


def train_resources():
    return {
        "mem_mb": config["resources"]["train_mem_mb"],
        "runtime": config["resources"]["train_runtime_min"],
        "gpu": config["resources"]["gpus"],
    }
