"""Step tracking_init: prepare the MLflow store once, before any training job logs to it.

Creating an SQLite store (its tables), the study's experiment and the parent run of every (task, method) from one
job means the parallel training jobs that follow only add runs and metrics: they never race to create the same
thing. An unreachable store is a warning, not a failed study: the status is recorded, training jobs then skip live
logging, and the next `snakemake` run retries this step (and `mlflow_sync` copies everything from results/).
Params:  study, tracking (uri, artifact_location), groups ({task/method: tags}).
Output:  tracking/init.json: uri, experiment id, parent run ids, status (complete | unreachable).
Run:     snakemake --cores all -R tracking_init
"""
from swa_study.io import write_json
from swa_study.steps import step_log
from swa_study.tracking.live import warn_once
from swa_study.tracking.store import artifact_root, client_for, ensure_parent, experiment_id


def main(study: str, tracking: dict, groups: dict[str, dict[str, str]], output: str) -> None:
    uri = tracking["uri"]
    try:
        client = client_for(uri)
        experiment = experiment_id(client, study, artifact_root(uri, tracking.get("artifact_location")))
        parents = {key: ensure_parent(client, experiment, key, {"study": study, "kind": "group", **tags})
                   for key, tags in groups.items()}
    except Exception as error:  # noqa: BLE001  (an outage must not stop the study)
        warn_once({}, uri, error, "preparing the experiment")
        write_json(output, {"uri": uri, "status": "unreachable", "error": str(error).splitlines()[0][:300]})
        return
    write_json(output, {"uri": uri, "status": "complete", "experiment_id": experiment, "parents": parents})


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.params.study, snakemake.params.tracking, snakemake.params.groups, snakemake.output[0])
