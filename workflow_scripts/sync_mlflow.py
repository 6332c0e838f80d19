"""Step mlflow_sync: make the MLflow store hold exactly what results/ holds (one job, after all the others).

Live logging (training and evaluation jobs) fills the store as the study runs; this step completes what it missed
(a job that ran while the store was down, a killed attempt) and rebuilds a lost store from results/. It writes
nothing for runs already complete, so running it twice changes nothing. An unreachable store is a warning: the
output then says `pending`, and the next `snakemake` run retries this step.
Inputs:  each run's folder (metrics.json, train_info.json, train_log.jsonl, predictions.tsv), the teachers' files,
         the tuning trials' folders (heldout.json, train_info.json, train_log.jsonl) and each method's selected.json;
         the evidence: per-task plots and the study's tables (attached to the parent runs), each run's flatness.json
         (metrics and an artifact of its child run).
Params:  study (the experiment's name), tracking (uri, artifact_location), the resolved study config,
         retry (changes while a sync is pending, so Snakemake reruns this step).
Output:  mlflow_sync.json: status, experiment id and the MLflow run id of every run.
Browse:  mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000
"""
import yaml

from swa_study.io import write_json
from swa_study.steps import step_log
from swa_study.tracking.evidence import sync_evidence
from swa_study.tracking.store import artifact_root, client_for, experiment_id, warn_once
from swa_study.tracking.sync import sync_study


def main(run_files, teacher_files, study: str, tracking: dict, study_config: dict, output: str,
         evidence: dict | None = None, trial_files=(), selected_files=()) -> None:
    uri = tracking["uri"]
    try:
        client = client_for(uri)
        experiment = experiment_id(client, study, artifact_root(uri, tracking.get("artifact_location")))
        summary = sync_study(client, experiment, study, list(run_files), list(teacher_files),
                             yaml.safe_dump(study_config, sort_keys=False), list(trial_files), list(selected_files))
        if evidence:
            summary["evidence"] = sync_evidence(client, experiment, evidence["plots"], evidence["tables"],
                                                evidence["flatness"])
    except Exception as error:  # noqa: BLE001  (an outage must not fail a finished study)
        warn_once({}, uri, error, "copying results/ into it")
        write_json(output, {"tracking_uri": uri, "experiment": study, "status": "pending",
                            "error": str(error).splitlines()[0][:300]})
        return
    ui_path = f"#/experiments/{experiment}?workflowType=machine_learning"  # MLflow 3.17's UI opens GenAI pages
    print(f"MLflow experiment {study!r} ({experiment}): {summary['written']} runs written, "  # unless asked not to
          f"{summary['unchanged']} unchanged; browse it at <ui>/{ui_path}")
    write_json(output, {"tracking_uri": uri, "experiment": study, "status": "complete", "ui_path": ui_path, **summary})


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.input.runs, snakemake.input.teachers, snakemake.params.study, snakemake.params.tracking,
             snakemake.params.study_config, snakemake.output[0],
             {key: list(snakemake.input.get(key, [])) for key in ("plots", "tables", "flatness")},
             snakemake.input.trials, snakemake.input.selected)
