"""The MLflow mirror of a study: live while it trains, completed from results/ at the end, never in the way.

- `store`: the connection (fast failure when a server is down, retries with backoff when SQLite is busy), the
  experiment (marked as model training, so the UI opens on its runs) and the parent run of every (task, method),
  created once when the study starts (the Snakefile's `onstart`, init_tracking.py), so parallel jobs never race.
- `records`: how results files become MLflow params, metrics (stamped with the time they were measured), tags and
  dataset inputs; shared by the live and the rebuild paths, so both write the same things.
- `live`: a training job's run, written while it trains (params at start, loss/LR/grad norm as logged) and completed
  by its evaluation job (final metrics, artifacts). Any tracking failure is one warning line, never a failed job.
- `sync`: the `mlflow_sync` rule: completes what live logging missed, rebuilds a lost store from results/, and
  writes nothing when everything is already there.
Files in results/ are the source of truth; MLflow is the browsable mirror.
"""
