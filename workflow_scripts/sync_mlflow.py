"""Step mlflow_sync: mirror every run of the study into MLflow (one job, so no two writers race on the store).

Inputs:  each run's folder (metrics.json, train_info.json, train_log.jsonl, predictions.tsv), the teachers' files;
         the evidence: per-task plots and the study's tables (attached to the parent runs), each run's flatness.json
         (metrics and an artifact of its child run).
Params:  study (the experiment's name), tracking (uri, artifact_location, log_models), the resolved study config.
Output:  mlflow_sync.json: experiment id and the MLflow run id of every run.
Browse:  mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000
"""
import yaml

from swa_study.evidence_tracking import sync_evidence
from swa_study.io import write_json
from swa_study.steps import step_log
from swa_study.tracking import MlflowMirror, sync_study


def main(run_files, teacher_files, study: str, tracking: dict, study_config: dict, output: str,
         evidence: dict | None = None) -> None:
    mirror = MlflowMirror(tracking["uri"], study, tracking["artifact_location"])
    summary = sync_study(mirror, study, list(run_files), list(teacher_files), tracking["log_models"],
                         yaml.safe_dump(study_config, sort_keys=False))
    if evidence:
        summary["evidence"] = sync_evidence(mirror, evidence["plots"], evidence["tables"], evidence["flatness"])
    print(f"MLflow experiment {study!r} ({mirror.experiment_id}): {summary['written']} runs written, "
          f"{summary['unchanged']} unchanged")
    write_json(output, {"tracking_uri": tracking["uri"], "experiment": study, **summary})


if "snakemake" in globals():
    with step_log(snakemake.log[0]):
        main(snakemake.input.runs, snakemake.input.teachers, snakemake.params.study, snakemake.params.tracking,
             snakemake.params.study_config, snakemake.output[0],
             {key: list(snakemake.input.get(key, [])) for key in ("plots", "tables", "flatness")})
