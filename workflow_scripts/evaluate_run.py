"""Step evaluate[task, method, seed]: score the saved student on dev (and test where labelled).

Inputs:  the trained model (for SWA: the averaged weights), the student-tokenised data, train_info.json.
Params:  task (name and definition), the task family's settings (config `qa:` / `generation:`: span search, decoding),
         data.max_length, evaluation.calibration_bins.
Outputs: metrics.json (scores only: metrics per split with calibration for classification and the main metric's
         name; SWAG: Bayesian model averaging as `validation`, the SWA mean as `validation_swa_mean`; byte-identical
         for the same config and seed, as BMA draws its samples from the run's seed) and predictions.tsv.
Run:     snakemake --cores all -R evaluate
"""
import time
from pathlib import Path

from swa_study.data import load_prepared
from swa_study.families import evaluate_task
from swa_study.io import atomic_file, read_json, remove_stale, write_json
from swa_study.models import has_swag_moments, load_trained
from swa_study.steps import set_threads, step_log
from swa_study.study.tasks import task_from_param
from swa_study.tracking.live import log_evaluation, tracking_context
from swa_study.tracking.records import RUN_FILES, final_metrics


def main(task_param: dict, model_dir: str, data_dir: str, train_info: str, threads: int,
         output_metrics: str, output_predictions: str, family_settings: dict | None = None, max_length: int = 128,
         calibration_bins: int = 15, stale=(), tracking=None, tracking_init=None) -> None:
    remove_stale(stale)  # the study's tables: they will show this run's new scores
    set_threads(threads)
    task = task_from_param(task_param)
    info = read_json(train_info)
    model, tokenizer = load_trained(model_dir)
    splits = load_prepared(data_dir)
    metrics, predictions = evaluate_task(model, tokenizer, task, splits, family_settings or {}, max_length,
                                         calibration_bins)
    if has_swag_moments(model_dir):
        from swa_study.swag_bma import swag_evaluation  # the methods (and the Trainer) load for SWAG runs only

        metrics, predictions = swag_evaluation(model, tokenizer, task, splits, model_dir, info["hyperparameters"],
                                               info["seed"], calibration_bins, metrics, predictions)
    with atomic_file(output_predictions) as staging:
        predictions.to_csv(staging, sep="\t", index=False)
    write_json(output_metrics, {
        "task": info["task"], "method": info["method"], "base_method": info.get("base_method", info["method"]),
        "seed": info["seed"], "main_metric": task.main_metric, **metrics,
    })  # scores only, so the same config and seed give a byte-identical file; what the run cost is in train_info
    record = read_json(output_metrics)
    folder = Path(output_metrics).parent
    log_evaluation(tracking_context(tracking, tracking_init), f"{info['task']}/{info['method']}/seed{info['seed']}",
                   info.get("attempt"), final_metrics(record, info["compute"], time.time()),
                   [folder / name for name in RUN_FILES])


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(snakemake.params.task, snakemake.input.model, snakemake.input.data, snakemake.input.info,
             snakemake.threads, snakemake.output.metrics, snakemake.output.predictions,
             snakemake.params.family_settings, snakemake.params.max_length, snakemake.params.calibration_bins,
             snakemake.params.stale, snakemake.config["tracking"], snakemake.params.tracking_init)  # config: no rerun
