"""Step analyse_flatness[task, method, seed]: how flat the training loss is around one trained run.

Inputs:  the run's model and train_info.json (its training time, for the cost ratio), the student-tokenised data;
         for runs of config `analysis.line_methods` (SWA and SWA+KD by default, variants included), the `finetune`
         model of the same task and seed (the line starts there).
Params:  task (name and definition), analysis (config `analysis:`: batches, radii, directions, alphas, budgets).
Output:  flatness.json: loss on the fixed batches, perturbation losses per radius and direction, the scalar
         sharpness, the Hessian's top eigenvalue (power iteration) and trace (Hutchinson), the interpolation line
         (training loss and dev metric per alpha), seconds per measure and their ratio to the run's training time.
Run:     snakemake --cores all -R analyse_flatness
"""
import time

from swa_study.analysis import AnalysisSettings, analyse_run
from swa_study.data import load_prepared
from swa_study.io import read_json, write_json
from swa_study.models import load_trained
from swa_study.steps import environment_facts, set_threads, step_log
from swa_study.study.tasks import task_from_param


def main(task_param: dict, model_dir: str, train_info: str, data_dir: str, analysis: dict, threads: int,
         output: str, line_start_dir: str | None = None, line_start_method: str | None = None) -> None:
    set_threads(threads)
    started = time.perf_counter()
    task = task_from_param(task_param)
    info = read_json(train_info)
    splits = load_prepared(data_dir)
    model, tokenizer = load_trained(model_dir)
    line_start = load_trained(line_start_dir)[0] if line_start_dir else None
    result = analyse_run(model, tokenizer, task, splits["train"], splits.get("validation"),
                         AnalysisSettings.from_params(analysis), line_start)
    train_seconds = float(info["compute"]["train_seconds"])
    job_seconds = time.perf_counter() - started  # loading included: what the rule costs end to end
    write_json(output, {
        "task": info["task"], "method": info["method"], "base_method": info.get("base_method", info["method"]),
        "seed": info["seed"], "line_start": line_start_method if line_start_dir else None, **result,
        "cost": {"measure_seconds": result["seconds"]["total"], "job_seconds": job_seconds,
                 "train_seconds": train_seconds, "ratio_to_training": job_seconds / train_seconds,
                 "threads": threads},
        "settings": analysis, "environment": environment_facts(),
    })


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(
            task_param=snakemake.params.task,
            model_dir=snakemake.input.model,
            train_info=snakemake.input.info,
            data_dir=snakemake.input.data,
            analysis=snakemake.params.analysis,
            threads=snakemake.threads,
            output=snakemake.output[0],
            line_start_dir=snakemake.input.get("line_start"),
            line_start_method=snakemake.params.line_start,
        )
