"""swa_study: the library behind the workflow's step scripts.

One job per module: `tasks` (what each task is), `assets` (where models and data come from), `data` (loading,
checking, tokenising), `metrics`, `schedules`, `training` (the shared Trainer set-up), `methods` (one module per
training recipe), `evaluation`, `report` (tables and plots) and `tracking` (the MLflow mirror).
"""
