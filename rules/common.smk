# Helpers shared by the rules: config checks, path builders, input functions, target lists.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from swa_study.assets import AssetError, mirror_root, model_slug, resolve_model
from swa_study.data import describe_source
from swa_study.methods import METHODS
from swa_study.study_config import ConfigError, check_config as _check_config, student_params
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


def check_assets():
    """Every model and data file the config names must resolve before any compute is spent."""
    try:
        root = mirror_root(config["assets"]["mirror"])
        for role in ("teacher", "student"):
            resolve_model(config["models"][role], root, f"models.{role}")
        for task in config["tasks"]:
            describe_source(get_task(task), root)
    except AssetError as error:
        fail(str(error))


R = config.get("results_dir", "results")
TEACHER_TOKENIZER = model_slug(config["models"]["teacher"])
STUDENT_TOKENIZER = model_slug(config["models"]["student"])


wildcard_constraints:
    task="|".join(TASKS),
    method="|".join(METHODS),
    seed=r"\d+",


def model_for_tokenizer(wildcards):
    """The model whose tokenizer a prepared-data folder uses (teacher and student may share one)."""
    names = {
        TEACHER_TOKENIZER: config["models"]["teacher"],
        STUDENT_TOKENIZER: config["models"]["student"],
    }
    return names[wildcards.tokenizer]


def data_dir(task, tokenizer):
    return f"{R}/data/{task}/{tokenizer}"


def run_dir(task, method, seed):
    return f"{R}/runs/{task}/{method}/seed{seed}"


def teacher_dir(task):
    return f"{R}/teacher/{task}"


def student_inputs(wildcards):
    """The student's data, plus the cached teacher logits and/or the trained teacher model when its method uses them."""
    method = METHODS[wildcards.method]
    inputs = {"data": data_dir(wildcards.task, STUDENT_TOKENIZER)}
    if method.needs_teacher_logits:
        inputs["teacher_logits"] = f"{teacher_dir(wildcards.task)}/train_logits.npz"
    if method.needs_teacher_model:  # RAIL-KD, MATE-KD: the teacher runs inside the student's training
        inputs["teacher_model"] = f"{teacher_dir(wildcards.task)}/model"
    return inputs


def method_hyperparameters(wildcards):
    return student_params(config, wildcards.method)


def run_metrics():
    return [
        f"{run_dir(task, method, seed)}/metrics.json"
        for task in config["tasks"]
        for method in config["methods"]
        for seed in config["seeds"]
    ]


def teacher_metrics():
    needs_teacher = any(METHODS[m].needs_teacher_logits for m in config["methods"])
    return [f"{teacher_dir(task)}/metrics.json" for task in config["tasks"]] if needs_teacher else []


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
