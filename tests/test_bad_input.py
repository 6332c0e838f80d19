"""The catalogue of bad inputs, each through the real Snakefile: a non-zero exit, one `error:` line naming the file
and the key or row, raised before any training where it can be known then, and nothing half-written left behind.

Planning-time cases fail before any job; data cases fail in prepare_data, the first job; broken cached artefacts
(teacher logits, weights) fail the job that reads them, and the study's tables disappear rather than show a score
whose run is being redone. Two cases are warnings by design and are checked in test_reliability.py and
test_resume.py: a damaged checkpoint (training falls back to the one before) and an unreachable or broken
tracking store (the study finishes; `mlflow_sync` retries on the next run).
"""
import contextlib
import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from tiny_study import build_mirror, run_snakemake, tiny_config


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    return build_mirror(tmp_path_factory.mktemp("catalogue") / "mirror")


def base_config(mirror):
    return tiny_config(mirror, tasks=["sst2", "stsb"], methods=["finetune", "swa", "kd"], seeds=[1])


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


def write(path: Path, content: str | bytes) -> None:
    """Write a file and return None, so that a case reads `write(...) or config`."""
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)


def own_task_config(config, folder):
    config["task_definitions"] = {"reviews": {
        "family": "classification", "num_labels": 2, "metrics": ["accuracy"], "main_metric": "accuracy",
        "columns": {"text_a": "review", "label": "stars"},
        "local": {"folder": str(folder), "files": {"train": "train.csv", "validation": "dev.csv"}}}}
    config["tasks"] = ["reviews"]
    (folder / "train.csv").write_text("review,stars\n" + "".join(f"row {i},{i % 2}\n" for i in range(30)))
    (folder / "dev.csv").write_text("review,stars\nfine,1\nbad,0\n")
    return config


# Each case: (id, change(config, mirror copy, workdir) -> config, the error line's pattern). The mirror is a copy.
CASES = [
    # config mistakes found by the schema, the method and task registries: one e2e case per path to the same
    # `fail()`; each message is checked in tests/test_config.py, `methods` typos also in test_pipeline.py
    ("wrong-type", lambda c, m, w: {**c, "student": {**c["student"], "batch_size": "8"}},
     r"config.yaml: student.batch_size: '8' is not of type 'integer'"),
    ("zero-lr", lambda c, m, w: {**c, "teacher": {**c["teacher"], "learning_rate": 0}},
     r"config.yaml: teacher.learning_rate: 0 is less than or equal to the minimum of 0"),
    ("unknown-variant-base", lambda c, m, w: {**c, "methods": ["fast"], "variants": {"fast": {"method": "swab"}}},
     r"config.yaml: variants.fast.method: unknown base method 'swab'"),
    ("variant-foreign-key", lambda c, m, w: {**c, "methods": ["fast"], "variants": {"fast": {"method": "swa", "alpha": 1}}},
     r"config.yaml: variants.fast.alpha: method 'swa' has no key 'alpha'"),
    ("model-path", lambda c, m, w: {**c, "models": {"teacher": "tiny-teacher", "student": "./no/student"}},
     r"config models.student: model folder './no/student' does not exist"),
    ("hub-id-offline", lambda c, m, w: {**c, "models": {"teacher": "tiny-teacher", "student": "org/not-mirrored"}},
     r"config models.student: model 'org/not-mirrored' is not in the mirror .* and HF_HUB_OFFLINE is set"),
    ("tracking-scheme", lambda c, m, w: {**c, "tracking": {"enabled": True, "uri": "mlfow://localhost"}},
     r"config.yaml: tracking.uri: 'mlfow://localhost' has scheme 'mlfow'"),
    ("remote-code", lambda c, m, w: {**c, "models": {**c["models"], "trust_remote_code": True}},
     r"config.yaml: models.trust_remote_code: true, but .*tiny-\w+ ships no remote code"),
    ("max-length-past-positions", lambda c, m, w: {**c, "data": {**c["data"], "max_length": 200}},
     r"config.yaml: data.max_length: 200 tokens, but the teacher model of task 'sst2' takes at most 128 "
     r"\(.*tiny-teacher/config.json\)"),
    ("results-dir-under-file", lambda c, m, w: write(w / "afile", "x") or {**c, "results_dir": "afile/results"},
     r"config.yaml: results_dir: 'afile/results' cannot be a folder: '.*afile' is a file"),
    ("task-definitions-yaml", lambda c, m, w: write(w / "tasks.yaml", "reviews: {family: [\n")
     or {**c, "task_definitions": str(w / "tasks.yaml")}, r"task_definitions: .*tasks.yaml: not valid YAML"),
    ("label-map", lambda c, m, w: {**own_task_config(c, w), "task_definitions": {"reviews": {
        **own_task_config(c, w)["task_definitions"]["reviews"], "label_map": {"neg": 0, "pos": 5}}}},
     r"config.yaml: task_definitions.reviews.label_map.pos: class id 5 outside 0..1"),
    ("unknown-metric", lambda c, m, w: {**own_task_config(c, w), "task_definitions": {"reviews": {
        **own_task_config(c, w)["task_definitions"]["reviews"], "metrics": ["acc"], "main_metric": "acc"}}},
     r"config.yaml: task_definitions.reviews.metrics\[0\]: unknown metric 'acc'"),
    ("missing-file", lambda c, m, w: (m / "glue_data" / "SST-2" / "dev.tsv").unlink() or c,
     r"SST-2/dev.tsv: validation file of task 'sst2' is missing"),
    ("empty-file", lambda c, m, w: write(m / "stsbenchmark" / "sts-test.csv", "") or c,
     r"stsbenchmark/sts-test.csv: test file of task 'stsb' is empty"),
    ("missing-column", lambda c, m, w: edit(m / "glue_data" / "SST-2" / "train.tsv", "sentence\t", "text\t") or c,
     r"SST-2/train.tsv: column 'sentence' \(text_a of task 'sst2'\) not found"),
    ("label-outside-classes", lambda c, m, w: edit(m / "glue_data" / "SST-2" / "dev.tsv", "\t1\n", "\t2\n") or c,
     r"SST-2/dev.tsv: line \d+: column 'label' has '2' outside 0..1"),
    ("regression-label", lambda c, m, w: edit(m / "stsbenchmark" / "sts-dev.csv", "\t5.0\t", "\tfive\t") or c,
     r"sts-dev.csv: line \d+: column 'score' has 'five', not a number"),
    ("not-utf8", lambda c, m, w: write(m / "glue_data" / "SST-2" / "train.tsv",
                                        b"sentence\tlabel\nna\xefve film .\t1\n") or c, r"SST-2/train.tsv: not valid UTF-8 text"),
    ("missing-field", lambda c, m, w: edit(m / "glue_data" / "SST-2" / "train.tsv", "\t0\n", "\n") or c,
     r"SST-2/train.tsv: line \d+: 1 fields, expected 2 \(sentence, label\); the field for 'label' is missing"),
    ("header-only", lambda c, m, w: write(m / "glue_data" / "SST-2" / "dev.tsv", "sentence\tlabel\n") or c,
     r"SST-2/dev.tsv: no data rows"),
]


@pytest.mark.parametrize("case, change, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_before_training_and_leaves_nothing_behind(mirror, tmp_path, case, change, expected):
    local = tmp_path / "mirror"
    shutil.copytree(mirror, local)
    config = change(copy.deepcopy(base_config(local)), local, tmp_path)
    # one job at a time: the data jobs come first (their priority), so a bad row stops the study before any teacher
    # starts; with two cores a teacher whose data is ready may start beside the last data job
    result = run_snakemake(tmp_path, config, "--cores", "1")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors and re.search(expected, errors[0]), result.stderr[-2000:]
    assert_nothing_trained_or_half_written(tmp_path)


def assert_nothing_trained_or_half_written(workdir: Path) -> None:
    results = workdir / "results"
    assert not (results / "runs").exists() and not (results / "teacher").exists()
    assert not list(results.rglob("*.tmp")) if results.exists() else True
    for prepared in (results / "data").glob("*/*") if (results / "data").exists() else []:
        assert (prepared / "info.json").exists(), f"{prepared} is half-written"  # another task's data may be done
    assert not (workdir / "mlflow.db").exists() or _runs_in(workdir) == 0


def _runs_in(workdir: Path) -> int:
    """Runs of a teacher or a student; the empty parent runs the study prepares when it starts do not count."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    return sum(len(client.search_runs([e.experiment_id], filter_string="tags.kind != 'group'"))
               for e in client.search_experiments())


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at `folder` for the duration (a read-only or a full file system, for real)."""
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_results_dir_is_one_line(mirror, tmp_path):
    with tmpfs(tmp_path / "readonly", "ro,size=1m") as target:
        result = run_snakemake(tmp_path, {**base_config(mirror), "results_dir": str(target / "results")})
    assert result.returncode != 0
    assert re.search(rf"error: \S*config.yaml: results_dir: '{target}' is not writable", result.stderr), result.stderr


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing_half_written(mirror, tmp_path):
    with tmpfs(tmp_path / "small", "size=400k") as target:
        result = run_snakemake(tmp_path, {**base_config(mirror), "results_dir": str(target / "results")})
        assert result.returncode != 0
        error = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
        assert re.search(rf"error: {target}/results/\S+: No space left on device", error), error
        assert not list((target / "results").rglob("*.tmp"))
        for prepared in (target / "results" / "data").glob("*/*"):  # what finished before the disk filled up
            assert (prepared / "info.json").is_file(), f"{prepared} is half-written"
        assert not list((target / "results").glob("runs/*/*/*/train_info.json"))  # no run claims to be done


# --- broken cached artefacts of a finished study --------------------------------------------------------------------

FINISHED_STATE = ("results", ".snakemake", "mlflow.db", "mlartifacts")  # what a finished study leaves behind


@pytest.fixture(scope="module")
def finished(mirror, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("finished")
    config = tiny_config(mirror, tasks=["sst2"], methods=["finetune", "kd"], seeds=[1], analysis={"enabled": False})
    result = run_snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    snapshot = tmp_path_factory.mktemp("finished-snapshot")
    for name in FINISHED_STATE:  # copies keep their modification times: Snakemake sees the same finished study
        copy_entry(workdir / name, snapshot / name)
    return workdir, config, snapshot


def copy_entry(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    elif source.exists():
        shutil.copy2(source, target)


BROKEN_ARTEFACTS = ["corrupt-logits", "logits-of-other-rows", "corrupt-teacher-weights"]


@pytest.mark.parametrize("case", BROKEN_ARTEFACTS)
def test_a_broken_cached_artefact_is_one_line_naming_it_and_the_tables_do_not_keep_the_old_score(finished, case):
    workdir, config, snapshot = finished
    assert (workdir / "results" / "tables" / "summary.csv").exists()  # a finished study, old kd score on show
    teacher = workdir / "results" / "teacher" / "sst2"
    named = Path("results") / "teacher" / "sst2"  # as the rules name files: relative to the working directory
    logits, weights = teacher / "train_logits.npz", teacher / "model" / "model.safetensors"
    saved = {path: path.read_bytes() for path in (logits, weights)}
    try:
        if case == "corrupt-logits":
            logits.write_bytes(saved[logits][:200])
            expected = rf"error: {named / 'train_logits.npz'}: unreadable cached teacher logits"
        elif case == "logits-of-other-rows":
            with np.load(logits) as cached:
                np.savez(logits, idx=cached["idx"][::-1], logits=cached["logits"], token_digest="")
            expected = rf"error: {named / 'train_logits.npz'}: teacher logits are for other training rows"
        else:  # read when the teacher's logits are computed again
            weights.write_bytes(saved[weights][:1000])
            expected = rf"error: {named / 'model'}: cannot load the saved model"
        forced = "results/teacher/sst2/train_logits.npz" if case == "corrupt-teacher-weights" \
            else "results/runs/sst2/kd/seed1/train_info.json"
        result = run_snakemake(workdir, config, "--forcerun", forced)
        assert result.returncode != 0
        assert re.search(expected, result.stderr), result.stderr[-2000:]
        assert not (workdir / "results" / "tables" / "summary.csv").exists()  # no old kd score on show
        assert not (workdir / "results" / "runs" / "sst2" / "kd" / "seed1" / "metrics.json").exists()
    finally:
        for path, content in saved.items():
            path.write_bytes(content)
        if case == BROKEN_ARTEFACTS[-1]:
            assert run_snakemake(workdir, config).returncode == 0  # repaired: the study completes again
        else:  # the next case starts from the finished study without training it again
            for name in FINISHED_STATE:
                target = workdir / name
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
                copy_entry(snapshot / name, target)
            plan = run_snakemake(workdir, config, "-n")
            assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, plan.stderr[-2000:]

