"""Prepare the MLflow store once, before any training job logs to it (run by the Snakefile's `onstart`).

Creating an SQLite store (its tables), the study's experiment and the parent run of every (task, method) from one
process means the parallel training jobs that follow only add runs and metrics: they never race to create the same
thing. An unreachable store is a warning, not a failed study: the status is recorded, training jobs then skip live
logging, and the next `snakemake` run tries again (and `mlflow_sync` copies everything from results/).
Arguments: one JSON list: study, tracking (uri, artifact_location), groups ({task/method: tags}), output path.
Output:    tracking/init.json: uri, experiment id, parent run ids, status (complete | unreachable).
Log:       results/logs/tracking_init.log (warnings also go to the console).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # swa_study, when run as a script

from swa_study.io import write_json  # noqa: E402
from swa_study.tracking.store import (artifact_root, client_for, ensure_parent, experiment_id,  # noqa: E402
                                      warn_once)


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


if __name__ == "__main__":
    main(*json.loads(sys.argv[1]))
