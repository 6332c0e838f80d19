"""Step select_setting[task, method]: the tuning trial that scored best on the held-out training rows.

Inputs:  every trial's heldout.json of this task and method (its setting and its scores on the held-out rows).
Params:  stale (the study's tables: they will show the seeds of the new setting).
Output:  tuning/<task>/<method>/selected.json: the winning trial, its setting and held-out score, and every
         trial's score (ties go to the lower trial number, so the choice is the same on every rerun). The
         study's seeds of this method train with the setting (train_student's `selected` input).
Run:     snakemake --cores all -R select_setting
"""
from swa_study.io import read_json, remove_stale, write_json
from swa_study.steps import step_log
from swa_study.study.tuning import best_trial


def main(trial_files: list[str], output: str, stale=()) -> None:
    remove_stale(stale)
    trials = sorted((read_json(path) for path in trial_files), key=lambda record: record["trial"])
    metric = trials[0]["main_metric"]
    scores = [(record["trial"], float(record["heldout"][metric])) for record in trials]
    winner = next(record for record in trials if record["trial"] == best_trial(scores))
    write_json(output, {
        "task": winner["task"], "method": winner["method"], "metric": metric, "trial": winner["trial"],
        "setting": winner["setting"], "heldout_score": winner["heldout"][metric],
        "trials": [{"trial": r["trial"], "setting": r["setting"], "heldout_score": r["heldout"][metric]}
                   for r in trials],
    })


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(list(snakemake.input.trials), snakemake.output[0], snakemake.params.stale)
