"""The study layer: configs, variants and task definitions are checked, and each mistake is one line naming the key."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from swa_study.study.config import ConfigError, overlay, read_config_file
from swa_study.study.methods import load_methods
from swa_study.study.plan import load_study

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "config"
STUDY_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob("*.yaml") if p.name not in ("schema.yaml", "methods.yaml",
                                                                                      "tasks.yaml"))


# studies that overlay another study file (`--configfile config/<base> config/<name>`)
OVERLAYS_OF = {"swa-ablation-lr.yaml": "swa-ablation.yaml"}


def load(name):
    """A shipped study as `snakemake --configfile config/<name>` runs it: the file over config/config.yaml (over
    its base study first, for the files of OVERLAYS_OF)."""
    below = load(OVERLAYS_OF[name]) if name in OVERLAYS_OF else yaml.safe_load((CONFIG_DIR / "config.yaml").read_text())
    return overlay(below, yaml.safe_load((CONFIG_DIR / name).read_text()))


def test_a_study_file_overlays_the_default_config_as_snakemake_merges_them():
    merged = overlay({"a": {"b": 1, "c": [1, 2]}, "d": 3}, {"a": {"c": [3]}, "e": {"f": 4}})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 3, "e": {"f": 4}}  # mappings merge, lists replace
    glue = load("glue-small.yaml")
    assert glue["student"]["precision"] == "auto" and glue["student"]["epochs"] == 3  # inherited and overridden
    assert glue["methods"] == ["finetune", "swa", "kd", "swa_kd", "swag"]


def study_of(config, name="config.yaml"):
    return load_study(copy.deepcopy(config), name, CONFIG_DIR)


def error_of(config, name="config.yaml") -> str:
    with pytest.raises(ConfigError) as caught:
        study_of(config, name)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("name", STUDY_CONFIGS)
def test_every_shipped_config_describes_a_valid_study(name):
    study = study_of(load(name), name)
    assert study.runs()


def test_the_method_registry_and_the_implementations_name_the_same_methods():
    from swa_study.methods import IMPLEMENTATIONS

    registry = load_methods(CONFIG_DIR / "methods.yaml")
    assert [name for name, spec in registry.items() if not spec.is_soup] == list(IMPLEMENTATIONS)
    assert [name for name, spec in registry.items() if spec.is_soup] == ["soup"]  # mixed by make_soup.py, not trained


def test_every_built_in_task_definition_is_valid():
    definitions = yaml.safe_load((CONFIG_DIR / "tasks.yaml").read_text())
    study = study_of({**load("paper.yaml"), "tasks": list(definitions)})
    assert set(study.tasks) == set(definitions)
    assert study.tasks["stsb"].is_regression and study.tasks["rte"].label_map == {"entailment": 0, "not_entailment": 1}
    assert study.tasks["squad"].family == "qa" and study.tasks["commongen"].family == "generation"


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["student"].update(batch_size="32"), "config.yaml: student.batch_size: '32' is not of type 'integer'"),
        (lambda c: c["student"].update(batch_size=0), "config.yaml: student.batch_size: 0 is less than the minimum of 1"),
        (lambda c: c["methods"].append("dropout"), "config.yaml: methods[3]: 'dropout' is neither a method"),
        (lambda c: c["tasks"].append("squadv3"), "config.yaml: tasks[2]: unknown task 'squadv3'"),
        (lambda c: c["student"].update(learning_rate=-1e-5), "config.yaml: student.learning_rate: -1e-05 is less than or equal to the minimum of 0"),
        (lambda c: c["method_params"]["swa"].update(swa_strat=0.5), "config.yaml: method_params.swa: Additional properties are not allowed ('swa_strat' was unexpected)"),
        (lambda c: c["method_params"]["swa"].update(swa_start=1.5), "config.yaml: method_params.swa.swa_start: 1.5 is greater than the maximum of 1"),
        (lambda c: c["method_params"]["swa"].update(swa_schedule="cosine"), "config.yaml: method_params.swa.swa_schedule: 'cosine' is not one of ['constant', 'cyclic']"),
        (lambda c: c.update(seeds=[]), "config.yaml: seeds: [] should be non-empty"),
        (lambda c: c.update(seeds=[1, 1]), "config.yaml: seeds: [1, 1] has non-unique elements"),
        (lambda c: c.update(results_dir=""), "config.yaml: results_dir: '' does not name a folder of its own"),
        (lambda c: c.update(results_dir="/"), "config.yaml: results_dir: '/' does not name a folder of its own"),
        (lambda c: c["tracking"].update(uri="mlruns"), "config.yaml: tracking.uri: 'mlruns' has no scheme"),
        (lambda c: c["tracking"].update(uri="ftp://host/x"), "config.yaml: tracking.uri: 'ftp://host/x' has scheme 'ftp'"),
        (lambda c: c.update(colour="blue"), "config.yaml: (top level): Additional properties are not allowed ('colour' was unexpected)"),
        (lambda c: c.update(seeds=[1, 2 ** 32]), "config.yaml: seeds[1]: 4294967296 is greater than the maximum of 4294967295"),
        (lambda c: c.update(statistics={"references": ["finetune", "fintune"]}),
         "config.yaml: statistics.references[1]: 'fintune' is neither a method"),
        (lambda c: c["tracking"].update(uri="https://ann:s3cret@mlflow.example.org"),
         "config.yaml: tracking.uri: holds credentials (ann:***@); remove them and set MLFLOW_TRACKING_USERNAME"),
        (lambda c: c["tracking"].update(uri="postgresql://ann:s3cret@db:5432/mlflow", enabled=False),
         "config.yaml: tracking.uri: holds credentials (ann:***@)"),  # tracking off: the URI is still a parameter
        (lambda c: c.update(results_dir="results/{study}"), "config.yaml: results_dir: 'results/{study}' holds a brace"),
    ],
    ids=["wrong-type", "zero-batch", "unknown-method", "unknown-task", "negative-lr", "misspelt-key", "swa-start",
         "swa-schedule", "no-seeds", "duplicate-seeds", "empty-results-dir", "root-results-dir", "no-uri-scheme",
         "unknown-uri-scheme", "unknown-top-level-key", "seed-past-32-bits", "unknown-reference", "uri-password",
         "database-uri-password", "wildcard-in-results-dir"],
)
def test_config_mistakes_are_one_line_naming_the_key(edit, expected):
    config = load("config.yaml")
    edit(config)
    message = error_of(config)
    assert message.startswith(expected), message


# --- method variants --------------------------------------------------------------------------------------------

def with_variants(**variants):
    config = load("config.yaml")
    config["variants"] = variants
    config["methods"] = [*config["methods"], *(name for name in variants if name not in config["methods"])]
    return config


def test_a_variant_is_its_base_method_with_overrides_and_a_row_of_its_own():
    config = with_variants(swa_lr2x={"method": "swa", "swa_lr": 1.0e-4},
                           **{"finetune_lr3e-5": {"method": "finetune", "learning_rate": 3.0e-5}},
                           kd_hot={"method": "kd", "temperature": 4.0})
    config["method_params"]["swa"]["swa_start"] = 0.6
    study = study_of(config)
    assert list(study.methods) == ["finetune", "swa", "kd", "swa_lr2x", "finetune_lr3e-5", "kd_hot"]
    swa, variant = study.student_params("swa", "sst2"), study.student_params("swa_lr2x", "sst2")
    assert variant == {**swa, "swa_lr": 1.0e-4}  # the base's section (swa_start 0.6) and defaults, one override
    assert variant["swa_start"] == 0.6 and variant["swa_schedule"] == "constant"
    assert study.student_params("finetune_lr3e-5", "sst2")["learning_rate"] == 3.0e-5
    assert study.student_params("kd_hot", "stsb")["temperature"] == 4.0
    assert study.methods["kd_hot"].base.name == "kd" and study.teacher_inputs("kd_hot", "sst2") == ("logits",)
    assert ("sst2", "swa_lr2x", 1) in study.runs() and len(study.runs()) == 2 * 6 * 3


@pytest.mark.parametrize(
    "variants, expected",
    [
        ({"swa_x": {"method": "swad", "swa_lr": 1e-4}}, "variants.swa_x.method: unknown base method 'swad'"),
        ({"swa_x": {"method": "swa", "alpha": 0.5}}, "variants.swa_x.alpha: method 'swa' has no key 'alpha'"),
        ({"swa_x": {"method": "swa", "swa_lr": -1.0}}, "variants.swa_x.swa_lr: -1.0 is less than or equal to the minimum of 0"),
        ({"swa": {"method": "swa", "swa_lr": 1e-4}}, "variants.swa: a variant cannot take the name of the built-in"),
        ({"swa/fast": {"method": "swa"}}, "variants.swa/fast: the name must be letters, digits"),
        ({"swa_x": {"swa_lr": 1e-4}}, "variants.swa_x: give the base method"),
    ],
    ids=["unknown-base", "foreign-key", "bad-value", "built-in-name", "path-unsafe", "no-base"],
)
def test_a_bad_variant_is_one_line_naming_it(variants, expected):
    message = error_of(with_variants(**variants))
    assert message.startswith(f"config.yaml: {expected}"), message


def test_a_variant_defined_twice_is_refused_when_the_file_is_read(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("study: s\nvariants:\n  fast: {method: swa, swa_lr: 1.0e-4}\n  fast: {method: swa, swa_lr: 2.0e-4}\n")
    with pytest.raises(ConfigError, match=r"study.yaml: line 4: not valid YAML \(duplicate key 'fast' \(line 4\)\)"):
        read_config_file(path)


def test_malformed_yaml_and_a_missing_config_file_are_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("study: s\ntasks: [sst2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line \d+: not valid YAML"):
        read_config_file(path)
    with pytest.raises(ConfigError, match="nowhere.yaml: config file not found"):
        read_config_file(tmp_path / "nowhere.yaml")


# --- settings per job -------------------------------------------------------------------------------------------

def test_method_section_overrides_student_settings_for_that_method_only():
    config = load("config.yaml")
    config["method_params"]["kd"]["learning_rate"] = 1e-4
    study = study_of(config)
    assert study.student_params("kd", "sst2")["learning_rate"] == 1e-4
    assert study.student_params("kd", "sst2")["alpha"] == 0.5
    assert study.student_params("finetune", "sst2")["learning_rate"] == config["student"]["learning_rate"]
    assert "alpha" not in study.student_params("finetune", "sst2")


def test_a_task_family_section_overrides_training_settings_for_its_tasks_only():
    config = load("paper.yaml")
    study = study_of(config)
    assert study.student_params("swa", "squad")["epochs"] == config["qa"]["student"]["epochs"] != config["student"]["epochs"]
    assert study.student_params("swa", "sst2")["epochs"] == config["student"]["epochs"]
    assert study.student_params("swa", "squad")["swa_start"] == config["method_params"]["swa"]["swa_start"]
    assert study.teacher_params("commongen")["learning_rate"] == config["generation"]["teacher"]["learning_rate"]
    assert "seed" not in study.teacher_params("squad")
    assert study.input_length("squad") == 384 and study.input_length("sst2") == config["data"]["max_length"]
    assert "student" not in study.task_settings("squad") and study.task_settings("squad")["doc_stride"] == 128
    assert "rail_kd" not in [m for t, m, s in study.runs() if t == "squad"]


# --- your own tasks ---------------------------------------------------------------------------------------------

def own_task(**changes):
    definition = {"family": "classification", "num_labels": 2, "metrics": ["accuracy"], "main_metric": "accuracy",
                  "columns": {"text_a": "review", "label": "stars"},
                  "local": {"folder": "/data/reviews", "files": {"train": "train.csv", "validation": "dev.csv"}}}
    definition.update(changes)
    config = load("config.yaml")
    config["task_definitions"] = {"reviews": definition}
    config["tasks"] = ["reviews"]
    return config


def test_a_task_defined_in_the_config_is_a_task_like_the_built_in_ones():
    study = study_of(own_task(label_map={"neg": 0, "pos": 1}))
    task = study.tasks["reviews"]
    assert task.local.format == "csv" and task.local.quoting == "csv" and task.local.columns.text_b is None
    assert task.label_map == {"neg": 0, "pos": 1} and task.main_metric == "accuracy"
    assert study.task_param("reviews")["definition"]["num_labels"] == 2


def test_task_definitions_may_live_in_a_file_of_their_own(tmp_path):
    config = own_task()
    (tmp_path / "tasks.yaml").write_text(yaml.safe_dump(config["task_definitions"]))
    config["task_definitions"] = str(tmp_path / "tasks.yaml")
    assert study_of(config).tasks["reviews"].num_labels == 2
    config["task_definitions"] = str(tmp_path / "missing.yaml")
    assert "missing.yaml: task definition file not found" in error_of(config)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"family": "ranking"}, "task_definitions.reviews.family: 'ranking' is not one of"),
        ({"metrics": ["accuracy", "bleurt"]}, "task_definitions.reviews.metrics[1]: unknown metric 'bleurt'"),
        ({"main_metric": "f1"}, "task_definitions.reviews.main_metric: 'f1' is not one of the task's metrics"),
        ({"metrics": ["pearsonr"], "main_metric": "pearsonr"}, "task_definitions.reviews.metrics[0]: metric 'pearsonr' needs scores"),
        ({"label_map": {"neg": 0, "pos": 2}}, "task_definitions.reviews.label_map.pos: class id 2 outside 0..1"),
        ({"num_labels": None}, "task_definitions.reviews.num_labels: None is not of type 'integer'"),
        ({"local": {"files": {"train": "a.csv"}}}, "task_definitions.reviews.local.files: no 'validation' file"),
        ({"label_map": {"neg": 0, "bad": 0, "pos": 1}},
         "task_definitions.reviews.label_map.bad: class 0 is already 'neg': two names for one class"),
        ({"num_labels": 3, "metrics": ["accuracy", "f1"]},
         "task_definitions.reviews.metrics[1]: 'f1' is binary F1 (class 1 positive) and this task has 3 classes"),
    ],
    ids=["unknown-family", "unknown-metric", "main-metric", "metric-kind", "label-map", "num-labels", "no-dev-file",
         "two-names-one-class", "binary-f1-on-three-classes"],
)
def test_a_bad_task_definition_is_one_line_naming_file_and_key(changes, expected):
    message = error_of(own_task(**changes))
    assert message.startswith(f"config.yaml: {expected}"), message


def test_a_task_cannot_redefine_a_built_in_one():
    config = own_task()
    config["task_definitions"] = {"sst2": config["task_definitions"]["reviews"]}
    assert "task_definitions.sst2: 'sst2' is a built-in task" in error_of(config)


def test_the_study_layer_imports_no_deep_learning_library():
    code = ("import sys, yaml; sys.path.insert(0, 'workflow_scripts')\n"
            "from swa_study.study import assets, config, methods, plan, sources, tasks\n"
            "plan.load_study(yaml.safe_load(open('config/paper.yaml')), 'paper.yaml', 'config')\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'datasets', 'evaluate', 'pandas', 'numpy') "
            "if m in sys.modules)\n"
            "print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# --- model soups: a rule over finished runs, one row per recipe ------------------------------------------------------

def test_a_soup_is_no_training_run_but_a_row_per_recipe_over_its_ingredients():
    config = load("beyond-study.yaml")
    study = study_of(config, "beyond-study.yaml")
    assert not [run for run in study.runs() if run[1] == "soup"]
    assert study.soups() == [("sst2", "soup", "uniform"), ("sst2", "soup", "greedy")]
    assert study.soup_ingredients("soup") == "finetune"
    assert study.table_rows()[-3:] == ["sam_swa", "soup_uniform", "soup_greedy"]
    config = {**load("paper.yaml"), "tasks": ["sst2", "squad"]}
    study = study_of(config, "paper.yaml")
    assert study.soups() == [("sst2", "soup", "uniform"), ("sst2", "soup", "greedy"), ("squad", "soup", "uniform")]
    assert study.soup_ingredients("soup") == "finetune_shared_init"
    assert study.student_params("finetune_shared_init", "sst2")["init_seed"] == 0


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c.update(methods=["swa", "soup"]),
         "methods[1]: soup 'soup' mixes the runs of 'finetune', which the study does not train"),
        (lambda c: c.update(seeds=[1]), "methods[7]: soup 'soup': a soup mixes runs across seeds"),
        (lambda c: c["data"].update(heldout_size=0), "data.heldout_size: the greedy soup 'soup' orders its ingredients"),
        (lambda c: c.update(variants={"soup_uniform": {"method": "finetune"}},
                            methods=[*c["methods"], "soup_uniform"]),
         "methods[7]: soup 'soup': its row 'soup_uniform' is also the name of a method"),
    ],
    ids=["ingredients-not-trained", "one-seed", "no-heldout", "row-name-taken"],
)
def test_a_soup_that_cannot_be_made_is_one_line_before_any_job(edit, expected):
    config = load("beyond-study.yaml")
    edit(config)
    message = error_of(config, "beyond-study.yaml")
    assert message.startswith(f"beyond-study.yaml: {expected}"), message


def test_a_task_may_name_its_own_teacher_and_student():
    config = load("glue-small.yaml")
    study = study_of(config, "glue-small.yaml")
    assert study.model_name("student", "stsb") == "sentence-transformers/paraphrase-MiniLM-L3-v2"
    assert study.model_name("student", "rte") == "sentence-transformers/all-MiniLM-L6-v2"
    assert study.model_key("student", "stsb") == "models.by_task.stsb.student"
    assert study.model_key("teacher", "cola") == "models.teacher"
    bad = copy.deepcopy(config)
    bad["models"]["by_task"]["mnli"] = bad["models"]["by_task"]["stsb"]
    assert error_of(bad, "glue-small.yaml") == ("glue-small.yaml: models.by_task.mnli: not a task of this study "
                                                "(rte, stsb, cola)")
    unmatched = {**load("swa-ablation.yaml"), "statistics": {"matched": {"swa_lr2x": "finetune_lr8x"}}}
    assert error_of(unmatched, "swa-ablation.yaml") == (
        "swa-ablation.yaml: statistics.matched.swa_lr2x: 'finetune_lr8x' is not a method of this study (finetune, "
        "swa, swa_cyclic, swa_per_epoch, swa_late, swa_lr2x, swa_lr4x, finetune_lr2x, finetune_lr4x)")


def test_the_positions_a_checkpoint_takes_come_from_its_config(tmp_path):
    import json

    from swa_study.study.assets import model_positions

    def positions(**config):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        return model_positions(folder)

    assert positions(model_type="bert", max_position_embeddings=512) == 512
    assert positions(model_type="roberta", max_position_embeddings=514) == 512  # offset by the padding index
    assert positions(model_type="gpt2", n_positions=1024) == 1024
    assert positions(model_type="t5", n_positions=512) is None  # relative positions: no hard limit
    assert model_positions(tmp_path / "a-hub-id") is None  # nothing local to read at planning
