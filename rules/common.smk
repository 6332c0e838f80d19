# Helpers shared by the rules: the checked study, path builders, input functions, target lists.
# Planning imports only the study layer (swa_study.study: no torch, transformers, datasets or evaluate).
import fcntl
import functools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from swa_study.io import remove_stale  # (standard library only)
from swa_study.study.assets import (AssetError, mirror_root, model_positions, model_slug, resolve_model,
                                    tokenizer_vocabulary)
from swa_study.study.config import ConfigError, read_config_file
from swa_study.study.evidence import analysis_enabled, line_start
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
                folder = resolve_model(study.model_name(role, task), root, study.model_key(role, task))
                check_input_length(study, task, role, folder)
            describe_source(study.tasks[task], root)
    except AssetError as error:
        fail(str(error))


def check_input_length(study, task, role, folder):
    """A max_length past the model's position embeddings fails in training with an index error: say it now."""
    positions, length = model_positions(folder), study.input_length(task)
    if positions is not None and length > positions:
        family = study.tasks[task].family
        key = f"{family}.max_length" if study.family_section(task).get("max_length") else "data.max_length"
        fail(f"{CONFIG_NAME}: {key}: {length} tokens, but the {role} model of task {task!r} takes at most "
             f"{positions} ({Path(folder) / 'config.json'}); lower {key}")


def check_shared_vocabulary(study):
    """Methods that run the teacher on the student's token ids (RAIL-KD, MATE-KD, KD on generation), and QA's cached
    per-token logits, need one vocabulary for both: compare the local tokenizers' files now, not after the teacher
    has trained."""
    root = mirror_root(config["assets"]["mirror"])
    for task in study.tasks:
        same_ids = [m for m in study.methods if study.applies(m, task) and ("model" in study.teacher_inputs(m, task)
                    or (study.family(task) == "qa" and "logits" in study.teacher_inputs(m, task)))]
        if not same_ids:
            continue
        folders = {role: resolve_model(study.model_name(role, task), root, study.model_key(role, task))
                   for role in ("teacher", "student")}
        vocabularies = [tokenizer_vocabulary(folder) for folder in folders.values()]
        if None not in vocabularies and vocabularies[0] != vocabularies[1]:
            fail(f"{CONFIG_NAME}: {study.model_key('teacher', task)}: the teacher {folders['teacher']} and the student "
                 f"{folders['student']} of task {task!r} have different vocabularies, but {', '.join(same_ids)} "
                 "feed the student's token ids to the teacher; choose a pair with one tokenizer or drop those methods")


def check_remote_code(study):
    """trust_remote_code runs code shipped with a checkpoint: refuse the switch when a local checkpoint ships none."""
    if not config["models"]["trust_remote_code"]:
        return
    root = mirror_root(config["assets"]["mirror"])
    for task in study.tasks:
        for role in ("teacher", "student"):
            folder = Path(resolve_model(study.model_name(role, task), root, study.model_key(role, task)))
            if (folder / "config.json").is_file() and "auto_map" not in json.loads((folder / "config.json").read_text()):
                fail(f"{CONFIG_NAME}: models.trust_remote_code: true, but {folder} ships no remote code (no auto_map "
                     "in its config.json); set it to false")


LOCK = {}  # the open lock file of this snakemake process, held until it exits


def lock_results_dir():
    """One snakemake process per results_dir. Snakemake locks only outputs under its working directory, so two
    processes on one absolute results_dir would both train into it; the kernel drops this lock when we exit."""
    path = Path(R) / ".snakemake-study.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        fail(f"{Path(R).resolve()}: results_dir is in use by another snakemake ({holder}); wait for it to finish "
             "or stop it")
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    LOCK["handle"] = handle


def remove_stale_results(jobs):
    """Before any job starts, delete what the planned jobs will make stale (each rule's `stale` parameter: a
    retrained run's scores, the study's tables), so that a study killed part-way never shows an old result for a
    run that is gone or half-redone. The jobs delete the same again when they start (other executors)."""
    for job in jobs:
        remove_stale(getattr(job.params, "stale", None) or ())


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
    trial=r"\d+",


def tokenizer_slug(task, role):
    """The folder name of a task's data tokenised for one role's checkpoint: the checkpoint's name, shared when teacher
    and student are one model, and told apart by role when two folders share their last name (./a/model, ./b/model),
    so that neither trains on the other's token ids."""
    names = {r: STUDY.model_name(r, task) for r in ("teacher", "student")}
    slug = model_slug(names[role])
    if names["teacher"] != names["student"] and model_slug(names["teacher"]) == model_slug(names["student"]):
        return f"{slug}-{role}"
    return slug


def model_for_tokenizer(wildcards):
    """The model whose tokenizer a prepared-data folder uses (teacher and student may share one)."""
    names = {tokenizer_slug(wildcards.task, role): STUDY.model_name(role, wildcards.task)
             for role in ("teacher", "student")}
    return names[wildcards.tokenizer]


@functools.cache
def study_mirror():
    """The mirror folder (checked by check_assets before any input function runs)."""
    return mirror_root(config["assets"]["mirror"])


@functools.cache
def checkpoint_files(task, role, weights=True):
    """A local checkpoint's files, as inputs: replacing its weights (or, for the data, its tokenizer) in the mirror
    reruns what was made from them. Empty for a Hub id (pin its revision in the id to fix it)."""
    folder = Path(resolve_model(STUDY.model_name(role, task), study_mirror(), STUDY.model_key(role, task)))
    if not (folder / "config.json").is_file():
        return []
    return sorted(str(path) for path in folder.iterdir()
                  if path.is_file() and (weights or path.suffix not in (".safetensors", ".bin")))


@functools.cache
def source_files(task):
    """The raw files a task's splits are read from (local files, or a Hub-layout folder's), as the data's inputs."""
    sources = describe_source(STUDY.tasks[task], study_mirror())
    files = {path for path in sources.values() if not path.startswith("hub:")}
    hub = STUDY.tasks[task].hub
    if hub is not None and Path(hub.path).expanduser().is_dir() and any(p.startswith("hub:") for p in sources.values()):
        files |= {str(path) for path in Path(hub.path).expanduser().rglob("*") if path.is_file()}
    return sorted(files)


def raw_data_inputs(wildcards):
    role = next(r for r in ("teacher", "student") if tokenizer_slug(wildcards.task, r) == wildcards.tokenizer)
    return {"sources": source_files(wildcards.task), "tokenizer": checkpoint_files(wildcards.task, role, False)}


def data_dir(task, role):
    """The task's data tokenised for the teacher's or the student's checkpoint."""
    return f"{R}/data/{task}/{tokenizer_slug(task, role)}"


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


def trial_dir(task, method, trial):
    return f"{R}/tuning/{task}/{method}/trial{trial}"


def selection_file(task, method):
    """The trial of a tuned method that won on the held-out rows (rules/tuning.smk): the seeds train with it."""
    return f"{R}/tuning/{task}/{method}/selected.json"


TRACKING_INIT = f"{R}/tracking/init.json"


def tracking_groups():
    """The parent runs to create before training: one per (task, method) of the study."""
    return {f"{task}/{method}": {"task": task, "method": method} for task, method, _ in STUDY.runs()}


def prepare_tracking():
    """Create the MLflow experiment and every parent run before any job starts (`onstart`), so the training jobs
    that log live only add runs and never race to create the same parent.

    Deliberately no job of its own: one that every training job depended on would, each time it reran (a method, a
    server back up), make Snakemake skip its own checks of every job downstream, so missing runs would not be
    trained. It runs in a child process (MLflow's imports stay out of the planner); an unreachable store is one
    warning line, the jobs then skip live logging and `mlflow_sync` copies everything later.
    """
    if not config["tracking"]["enabled"]:
        return
    Path(TRACKING_INIT).parent.mkdir(parents=True, exist_ok=True)
    log = Path(R) / "logs" / "tracking_init.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    arguments = json.dumps([config["study"], config["tracking"], tracking_groups(), TRACKING_INIT])
    script = Path(workflow.basedir) / "workflow_scripts" / "init_tracking.py"
    with open(log, "w") as handle:
        subprocess.run([sys.executable, str(script), arguments], stdout=handle, check=False)


def retry_token(path):
    """A rule parameter that stays "complete" once the step's output says so, and otherwise changes with every
    invocation: Snakemake reruns a step whose parameters changed, so an MLflow step that found the store
    unreachable is retried by the next `snakemake` run instead of being considered done."""
    try:
        status = json.loads(Path(path).read_text()).get("status", "complete")
    except (OSError, ValueError):  # not written yet: the step runs anyway
        return "complete"
    return "complete" if status == "complete" else f"retry-{time.time()}"


def teacher_inputs(wildcards):
    return {"data": data_dir(wildcards.task, "teacher"), "checkpoint": checkpoint_files(wildcards.task, "teacher")}


def trial_inputs(wildcards):
    """The student's data, plus the cached teacher logits and/or the trained teacher model when its method uses them."""
    needs = STUDY.teacher_inputs(wildcards.method, wildcards.task)
    inputs = {"data": data_dir(wildcards.task, "student"), "checkpoint": checkpoint_files(wildcards.task, "student")}
    if "logits" in needs:
        inputs["teacher_logits"] = f"{teacher_dir(wildcards.task)}/train_logits.npz"
    if "model" in needs:  # RAIL-KD, MATE-KD, word-level KD for generation: the teacher runs inside training
        inputs["teacher_model"] = f"{teacher_dir(wildcards.task)}/model"
    return inputs


def student_inputs(wildcards):
    """A trial's inputs, and for a tuned method the setting its trials chose."""
    inputs = trial_inputs(wildcards)
    if STUDY.is_tuned(wildcards.method):
        inputs["selected"] = selection_file(wildcards.task, wildcards.method)
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


def run_infos():
    """Every run's train_info.json: the tables depend on the training outputs too, so a run whose model is gone
    (a rerun killed half-way) is retrained instead of its old score being reported."""
    return [f"{run_dir(task, method, seed)}/train_info.json" for task, method, seed in STUDY.runs()]


STUDY_TABLES = [f"{R}/tables", f"{R}/plots", f"{R}/mlflow_sync.json"]


def stale_after_training(wildcards):
    """What a run's retraining makes stale: its scores, the scores of the soups that mix it, and the study's tables
    and MLflow mirror built on them."""
    run = run_dir(wildcards.task, wildcards.method, wildcards.seed)
    soups = [f"{R}/runs/{task}/{soup}_{recipe}/{name}" for task, soup, recipe in STUDY.soups()
             if task == wildcards.task and STUDY.soup_ingredients(soup) == wildcards.method
             for name in ("metrics.json", "predictions.tsv")]
    return [f"{run}/metrics.json", f"{run}/predictions.tsv", *soups, *STUDY_TABLES]


def teacher_metrics():
    """The teacher's scores, for every task where some method of the study learns from it."""
    return [f"{teacher_dir(task)}/metrics.json" for task in STUDY.tasks if STUDY.needs_teacher(task)]


def calibration_tasks():
    """{task: main metric} of the tasks with class probabilities (classification, not regression)."""
    return {name: task.main_metric for name, task in STUDY.tasks.items()
            if task.family == "classification" and not task.is_regression}


def baseline_tasks():
    """The tasks with a trivial baseline (majority class, mean score): classification and regression."""
    return [name for name, task in STUDY.tasks.items() if task.family == "classification"]


def baseline_file(task):
    return f"{R}/baseline/{task}/metrics.json"


def baseline_metrics(tasks=None):
    """The trivial baselines of `tasks` (default: every task that has one), the floor row of the tables."""
    return [baseline_file(task) for task in (baseline_tasks() if tasks is None else tasks) if task in baseline_tasks()]


def task_baseline(wildcards):
    return baseline_metrics([wildcards.task])


def calibration_plots():
    return [f"{R}/plots/reliability_{task}.png" for task in calibration_tasks()]


def registry_seeds(task):
    return sorted({seed for t, _, seed in STUDY.runs() if t == task})


def registry_inputs(wildcards):
    """Every seed's model and scores of one (task, method), and the data whose held-out rows choose among them."""
    seeds = registry_seeds(wildcards.task)
    return {"models": [f"{run_dir(wildcards.task, wildcards.method, s)}/model" for s in seeds],
            "metrics": [f"{run_dir(wildcards.task, wildcards.method, s)}/metrics.json" for s in seeds],
            "data": data_dir(wildcards.task, "student")}


def registry_targets():
    """One registry record per (task, method) when the study logs or registers models (classification and QA)."""
    tracking = config["tracking"]
    if not tracking["enabled"] or not (tracking["log_models"] or tracking["registered_model"]):
        return []
    pairs = {(task, method) for task, method, _ in STUDY.runs() if STUDY.family(task) in ("classification", "qa")}
    return [f"{R}/registry/{task}/{method}.json" for task, method in sorted(pairs)]


def summary_targets():
    targets = [f"{R}/tables/summary.csv", f"{R}/tables/summary.md", f"{R}/tables/calibration.md",
               *task_plots(), *tuning_targets()]
    if analysis_enabled(STUDY):
        targets += [f"{R}/analysis/flatness.csv", *flatness_plots()]
    if config["tracking"]["enabled"]:
        targets += [f"{R}/mlflow_sync.json", *registry_targets()]
    return targets


def job_resources(kind):
    """What a job asks a scheduler for, from config `resources:` (kind: train, eval or data): memory (MB), wall time
    (minutes) and GPUs, as --gpus=N or --gres=gpu:N (`gpu_request`). CPUs come from the rule's `threads`."""
    settings = config["resources"]
    gpus = {"train": settings["gpus"], "eval": settings["eval_gpus"], "data": 0}[kind]
    resources = {"mem_mb": settings[f"{kind}_mem_mb"], "runtime": settings[f"{kind}_runtime_min"]}
    if gpus:
        resources.update({"gres": f"gpu:{gpus}"} if settings["gpu_request"] == "gres" else {"gpu": gpus})
        # One task that starts torchrun itself: the SLURM plugin turns a `tasks` resource (say, from a profile's
        # default-resources) into --ntasks-per-gpu, which would start the job's script once per GPU.
        resources["tasks_per_gpu"] = 0
    return resources


# --- evidence: statistics, compute, flatness, plots (rules/report.smk, rules/analysis.smk) ----------------------
def task_run_keys(task):
    return [(t, m, s) for t, m, s in STUDY.runs() if t == task]


def task_run_files(name):
    """Input function: one file (`metrics.json`, `train_log.jsonl`, ...) of every run of the wildcard's task."""
    return lambda wildcards: [f"{run_dir(*key)}/{name}" for key in task_run_keys(wildcards.task)]


def task_teacher_metrics(wildcards):
    return [f"{teacher_dir(wildcards.task)}/metrics.json"] if STUDY.needs_teacher(wildcards.task) else []


def teacher_logits_facts():
    """What each teacher logits pass cost (train_logits.json), for the tasks where a method reads the logits."""
    return [f"{teacher_dir(task)}/train_logits.json" for task in STUDY.tasks
            if any(STUDY.applies(m, task) and "logits" in STUDY.teacher_inputs(m, task) for m in STUDY.methods)]


def teacher_needs():
    """task -> method -> what the method takes from the task's teacher (compute.csv charges it the teacher)."""
    return {task: {m: list(STUDY.teacher_inputs(m, task)) for m in STUDY.methods if STUDY.applies(m, task)}
            for task in STUDY.tasks}


def task_metric(wildcards):
    return STUDY.tasks[wildcards.task].main_metric


TASK_PLOTS = ("scores.png", "scores.svg", "training.png", "compute.png")
FLATNESS_PLOTS = ("interpolation.png", "perturbation.png", "sharpness.png", "sharpness.svg")


def task_plots():
    return [f"{R}/plots/{task}/{name}" for task in STUDY.tasks for name in TASK_PLOTS]


def flatness_plots():
    return [f"{R}/plots/{task}/{name}" for task in STUDY.tasks for name in FLATNESS_PLOTS]


def flatness_files():
    return [f"{R}/analysis/{task}/{method}/seed{seed}/flatness.json" for task, method, seed in STUDY.runs()]


def line_start_method(wildcards):
    """The method whose weights of the same seed this run's interpolation line starts from (None: no line)."""
    return line_start(STUDY, wildcards.task, wildcards.method)


def flatness_inputs(wildcards):
    inputs = {"model": f"{run_dir(wildcards.task, wildcards.method, wildcards.seed)}/model",
              "info": f"{run_dir(wildcards.task, wildcards.method, wildcards.seed)}/train_info.json",
              "data": data_dir(wildcards.task, "student")}
    start = line_start_method(wildcards)
    if start is not None:
        inputs["line_start"] = f"{run_dir(wildcards.task, start, wildcards.seed)}/model"
    return inputs


def analysis_settings():
    """The measures' budget (config `analysis:` without the switches that only decide which jobs exist)."""
    return {k: v for k, v in config["analysis"].items() if k not in ("enabled", "line_methods")}


def evidence_files():
    """Plots and tables the MLflow mirror attaches to the parent runs, and the flatness files of the child runs."""
    files = {"plots": task_plots(), "tables": [f"{R}/tables/{name}" for name in
                                                ("summary.md", "significance.csv", "compute.csv")],
             "flatness": []}
    if analysis_enabled(STUDY):
        files["plots"] += flatness_plots()
        files["tables"] += [f"{R}/analysis/flatness.md", f"{R}/analysis/flatness.csv"]
        files["flatness"] = flatness_files()
    return files



# --- equal-budget tuning (rules/tuning.smk) ------------------------------------------------------------------------
def trial_hyperparameters(wildcards):
    return STUDY.trial_params(wildcards.method, wildcards.task, int(wildcards.trial))


def trial_setting(wildcards):
    """What this trial sets on top of the method's settings (its point of the grid)."""
    return STUDY.trial_setting(wildcards.method, int(wildcards.trial))


def trial_files(name, task=None, method=None):
    """One file of every trial (of one task and method, when given)."""
    return [f"{trial_dir(t, m, k)}/{name}" for t, m, k in STUDY.trials()
            if task in (None, t) and method in (None, m)]


def task_trial_scores(wildcards):
    return trial_files("heldout.json", wildcards.task, wildcards.method)


def selection_files():
    return [selection_file(task, method) for task in STUDY.tasks for method in STUDY.methods
            if STUDY.is_tuned(method) and STUDY.applies(method, task)]


TUNING_TABLES = [f"{R}/tuning/{name}" for name in ("tuning.csv", "tuning.md", "tuning.html",
                                                    "expected_validation.csv", "expected_validation.png")]


def tuning_targets():
    return TUNING_TABLES if STUDY.trial_settings else []


def stale_after_trial(wildcards):
    """What a trial's retraining makes stale: the selection of its method on its task and the study's tables."""
    return [selection_file(wildcards.task, wildcards.method), *TUNING_TABLES, *STUDY_TABLES]
