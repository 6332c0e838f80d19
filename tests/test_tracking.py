"""Live MLflow logging under load: 8 training processes writing to one SQLite store at once lose nothing."""
import multiprocessing
import time
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

WRITERS, STEPS = 8, 150


def writer(uri: str, init_file: str, index: int) -> None:
    """What a training job does: start its live run, log every step (flushing now and then), close the run."""
    from swa_study.tracking.live import LiveRun, tracking_context

    live = LiveRun(tracking_context({"enabled": True, "uri": uri}, init_file), f"task/m{index % 4}/seed{index}",
                   f"task/m{index % 4}", attempt=f"attempt-{index}", params={"seed": index, "lr": 1e-3},
                   tags={"kind": "seed"}, data_info={"rows": {"train": 10}, "sources": {"train": "x.tsv"}},
                   task="task")
    live.start()
    for step in range(1, STEPS + 1):
        state = SimpleNamespace(global_step=step, epoch=step / STEPS)
        live.on_log(None, state, None, logs={"loss": 1.0 / step, "learning_rate": 1e-3, "grad_norm": 0.5})
        if step % 10 == 0:
            live.flush()
    live.on_train_end(None, SimpleNamespace(global_step=STEPS), None)
    live.close()
    if live.state.get("warned"):
        raise SystemExit(3)


def test_eight_concurrent_writers_on_one_sqlite_store_lose_no_run_and_no_metric(tmp_path):
    import init_tracking

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    init_file = tmp_path / "init.json"
    init_tracking.main("load", {"uri": uri, "artifact_location": str(tmp_path / "artifacts")},
                       {f"task/m{i}": {"task": "task", "method": f"m{i}"} for i in range(4)}, str(init_file))
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=writer, args=(uri, str(init_file), i)) for i in range(WRITERS)]
    started = time.monotonic()
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    assert [p.exitcode for p in processes] == [0] * WRITERS  # no "database is locked", no warning
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("load")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    children = [r for r in runs if r.data.tags.get("kind") == "seed"]
    assert len(children) == WRITERS and len(runs) == WRITERS + 4
    for run in children:
        for key in ("train_loss", "learning_rate", "grad_norm"):
            history = client.get_metric_history(run.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(1, STEPS + 1)), (run.data.tags["run_key"], key)
        assert run.data.tags["mlflow.parentRunId"] in {r.info.run_id for r in runs if r.data.tags.get("kind") == "group"}
        assert run.info.status == "FINISHED" and run.info.end_time >= run.info.start_time
    print(f"{WRITERS} writers x {STEPS} steps in {time.monotonic() - started:.1f} s")


def test_the_form_of_the_uri_is_checked_and_a_refused_connection_is_one_warning(tmp_path, capsys):
    from swa_study.tracking.live import LiveRun

    live = LiveRun({"uri": "http://127.0.0.1:9", "experiment_id": "1", "parents": {}}, "t/m/seed1", "t/m", "a",
                   params={}, tags={})
    started = time.monotonic()
    live.start()
    live.on_log(None, SimpleNamespace(global_step=1, epoch=0.1), None, logs={"loss": 1.0})
    live.on_train_end(None, SimpleNamespace(global_step=1), None)
    live.close()
    assert time.monotonic() - started < 30  # no minutes of retries
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(set(lines)) == 1 and "MLflow tracking at http://127.0.0.1:9 failed while starting the run" in lines[0]


@pytest.mark.parametrize("error, busy", [("(sqlite3.OperationalError) database is locked", True),
                                          ("RESOURCE_DOES_NOT_EXIST: no such run", False)])
def test_only_a_busy_store_is_retried(error, busy):
    from swa_study.tracking.store import retrying

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(error)
        return "done"

    if busy:
        assert retrying(flaky) == "done" and len(calls) == 3
    else:
        with pytest.raises(RuntimeError):
            retrying(flaky)
        assert len(calls) == 1


def test_a_tracking_server_stores_artifacts_itself(tmp_path, monkeypatch):
    from swa_study.tracking.store import artifact_root

    monkeypatch.chdir(tmp_path)
    assert artifact_root("http://127.0.0.1:5000", None) is None  # the server's own -> mlflow-artifacts:/
    assert artifact_root("sqlite:///mlflow.db", None) == (tmp_path / "mlartifacts").as_uri()
    assert artifact_root("sqlite:///mlflow.db", "s3://bucket/x") == "s3://bucket/x"
    assert artifact_root("sqlite:///mlflow.db", "art") == (tmp_path / "art").as_uri()


def test_a_parent_is_updated_only_when_its_seeds_or_the_study_config_change(tmp_path):
    from swa_study.tracking.store import ensure_parent, experiment_id
    from swa_study.tracking.sync import RunImage, update_parent

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = experiment_id(client, "study", (tmp_path / "artifacts").as_uri())
    parent = ensure_parent(client, experiment, "sst2/swa", {"kind": "group"})
    child = RunImage("sst2/swa/seed1", "f", {}, [], {}, [], end_time=1.7e9, task="sst2",
                     data_info={"rows": {"train": 10}, "sources": {"train": "a.tsv"}})
    for _ in range(2):
        update_parent(client, parent, [child], [0.75, 0.8], "study: tiny\n")
    assert len(client.get_metric_history(parent, "score_mean")) == 1
    assert len(client.get_run(parent).inputs.dataset_inputs) == 1
    stored = tmp_path / "artifacts" / parent / "artifacts" / "study_config.yaml"
    stamp = stored.stat().st_mtime_ns
    update_parent(client, parent, [child], [0.75, 0.9], "study: tiny\n")  # a changed score is logged, the same
    assert len(client.get_metric_history(parent, "score_mean")) == 2 and stored.stat().st_mtime_ns == stamp  # text not
    update_parent(client, parent, [child], [0.75, 0.9], "study: other\n")
    assert stored.read_text() == "study: other\n" and client.get_run(parent).info.end_time == int(1.7e9 * 1000)


def test_runs_carry_mlflows_source_tags_and_whether_the_tree_was_dirty():
    from swa_study.tracking.records import STUDENT_SCRIPT, version_tags

    tags = version_tags({"git_commit": "abc123", "git_dirty": True, "user": "ada", "torch": "2.13.0"}, STUDENT_SCRIPT)
    assert tags == {"version.torch": "2.13.0", "git_commit": "abc123", "mlflow.source.git.commit": "abc123",
                    "git_dirty": "true", "mlflow.user": "ada", "mlflow.source.name": STUDENT_SCRIPT,
                    "mlflow.source.type": "LOCAL"}
    bare = version_tags({"git_dirty": None}, STUDENT_SCRIPT)  # outside a git checkout: no commit, no dirty flag
    assert "git_dirty" not in bare and "mlflow.source.git.commit" not in bare


def test_the_dirty_flag_sees_an_edited_tracked_file(tmp_path):
    import subprocess

    from swa_study.steps import git_dirty

    assert git_dirty(tmp_path) is None  # not a checkout
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "code.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (tmp_path / "notes.txt").write_text("untracked files do not count\n")
    assert git_dirty(tmp_path) is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_dirty(tmp_path) is True


def test_a_parent_is_running_while_a_child_trains_and_ends_with_its_last_child(tmp_path):
    import init_tracking
    from swa_study.tracking.live import LiveRun, tracking_context
    from swa_study.tracking.sync import RunImage, update_parent

    uri, init_file = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "init.json"
    init_tracking.main("live", {"uri": uri, "artifact_location": str(tmp_path / "artifacts")},
                       {"sst2/swa": {"task": "sst2", "method": "swa"}}, str(init_file))
    client = MlflowClient(uri)
    parent = client.search_runs([client.get_experiment_by_name("live").experiment_id])[0]
    assert parent.info.status == "RUNNING" and parent.info.end_time is None  # the study has started
    for seed in (1, 2):
        live = LiveRun(tracking_context({"enabled": True, "uri": uri}, init_file), f"sst2/swa/seed{seed}",
                       "sst2/swa", attempt=f"a{seed}", params={}, tags={"kind": "seed"}, task="sst2")
        live.start()
        assert client.get_run(parent.info.run_id).info.status == "RUNNING"  # while seed 1 and seed 2 train
        live.on_train_end(None, SimpleNamespace(global_step=1), None)
        live.close()
        if seed == 1:  # the sync of an earlier study had ended it: the next child to start reopens it
            update_parent(client, parent.info.run_id, [RunImage("sst2/swa/seed1", "f", {}, [], {}, [],
                                                                end_time=time.time(), task="sst2")], [0.8], "")
            assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    children = [r for r in client.search_runs([parent.info.experiment_id]) if r.data.tags.get("kind") == "seed"]
    ends = [r.info.end_time / 1000 for r in children]
    update_parent(client, parent.info.run_id, [RunImage(f"k{i}", "f", {}, [], {}, [], end_time=end, task="sst2")
                                               for i, end in enumerate(ends)], [0.8, 0.9], "")
    ended = client.get_run(parent.info.run_id).info
    assert ended.status == "FINISHED" and ended.end_time == int(max(ends) * 1000)
    assert ended.start_time <= min(r.info.start_time for r in children)  # it spans its children


def test_a_job_that_raises_leaves_its_run_failed_and_its_resume_reopens_it(tmp_path):
    import init_tracking
    from swa_study.tracking.live import LiveRun, tracking_context

    uri, init_file = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "init.json"
    init_tracking.main("broken", {"uri": uri, "artifact_location": str(tmp_path / "artifacts")},
                       {"sst2/kd": {"task": "sst2", "method": "kd"}}, str(init_file))

    def job(fails: bool) -> LiveRun:
        live = LiveRun(tracking_context({"enabled": True, "uri": uri}, init_file), "sst2/kd/seed1", "sst2/kd",
                       attempt="a1", params={}, tags={"kind": "seed"}, task="sst2")
        live.start()
        try:  # what train_student.main does around training
            if fails:
                raise RuntimeError("CUDA out of memory")
            live.on_train_end(None, SimpleNamespace(global_step=1), None)
        except BaseException:
            live.fail()
        finally:
            live.close()
        return live

    client = MlflowClient(uri)
    run_id = job(fails=True).run_id
    assert client.get_run(run_id).info.status == "FAILED"
    assert job(fails=False).run_id == run_id  # the same attempt resumed: the same run, FINISHED now
    assert client.get_run(run_id).info.status == "FINISHED"
