"""The MLflow mirror's own rules: where a new experiment's artifacts go, and a re-sync that writes nothing."""
from mlflow.tracking import MlflowClient

from swa_study.tracking import MlflowMirror, experiment_artifact_location


def test_a_tracking_server_stores_artifacts_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert experiment_artifact_location("http://127.0.0.1:5000", "mlartifacts") is None  # -> mlflow-artifacts:/
    assert experiment_artifact_location("https://mlflow.lab.example", "s3://bucket/x") is None
    assert experiment_artifact_location("sqlite:///mlflow.db", "s3://bucket/x") == "s3://bucket/x"
    assert experiment_artifact_location("sqlite:///mlflow.db", "mlartifacts") == (tmp_path / "mlartifacts").as_uri()


def test_parent_metrics_and_texts_are_written_once(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mirror = MlflowMirror(uri, "study", str(tmp_path / "artifacts"))
    parent = mirror.parent("sst2/swa", {"kind": "group"})
    for _ in range(2):
        mirror.set_metrics(parent, {"score_mean": 0.75, "seeds": 3})
        mirror.attach_text(parent, "study: tiny\n", "study_config.yaml")
    client = MlflowClient(tracking_uri=uri)
    assert len(client.get_metric_history(parent, "score_mean")) == 1
    stored = tmp_path / "artifacts" / parent / "artifacts" / "study_config.yaml"
    stamp = stored.stat().st_mtime_ns
    mirror.set_metrics(parent, {"score_mean": 0.80, "seeds": 3})  # a changed value is logged; the same text is not
    mirror.attach_text(parent, "study: tiny\n", "study_config.yaml")
    assert [m.value for m in client.get_metric_history(parent, "score_mean")] == [0.75, 0.80]
    assert len(client.get_metric_history(parent, "seeds")) == 1 and stored.stat().st_mtime_ns == stamp
    mirror.attach_text(parent, "study: other\n", "study_config.yaml")
    assert stored.read_text() == "study: other\n"
