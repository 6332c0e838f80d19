"""Step soup[task, soup, recipe]: mix the finished runs of one method across the study's seeds into one model.

Inputs:  each ingredient run's model/ and train_info.json (the soup's `ingredients` method, every seed of the study),
         the task's student-tokenised data (its `heldout` slice orders the greedy soup; dev and test are reported).
Params:  task (name and definition), soup (the row's prefix), recipe (uniform | greedy), ingredients (method name),
         seeds, the family's settings, data.max_length, evaluation.calibration_bins, the student model's name.
         stale (the study's tables, deleted when the soup is remade).
Outputs: like a run, in results/runs/<task>/<soup>_<recipe>/: model/ (the soup's weights), metrics.json (scores
         only: dev/test metrics with calibration, `soup`: recipe, ingredients with their held-out scores, the chosen
         ones), predictions.tsv, train_info.json (recipe, ingredients, compute: the ingredients' training summed)
         and train_log.jsonl (the greedy soup's held-out score after each candidate, for MLflow).
Run:     snakemake --cores all results/runs/sst2/soup_greedy/metrics.json
"""
import json
import time

from swa_study.data import load_prepared
from swa_study.evaluation import score_splits
from swa_study.families import evaluate_task
from swa_study.io import atomic_file, read_json, remove_stale, write_json
from swa_study.models import load_trained, save_trained
from swa_study.soups import average_state_dicts, greedy_soup
from swa_study.steps import environment_facts, set_threads, step_log
from swa_study.study.tasks import task_from_param
from swa_study.prediction import predict_logits


def main(task_param: dict, soup: str, recipe: str, ingredients: str, seeds: list[int], model_dirs: list[str],
         info_files: list[str], data_dir: str, family_settings: dict, max_length: int, calibration_bins: int,
         student_model: str, threads: int, outputs: dict[str, str], stale=()) -> None:
    remove_stale(stale)  # the study's tables: they will show this soup's new scores
    set_threads(threads)
    started = time.perf_counter()
    task = task_from_param(task_param)
    splits = load_prepared(data_dir)
    heldout = splits.get("heldout")
    if recipe == "greedy" and heldout is None:
        raise ValueError(f"{data_dir}: no heldout split to order the greedy soup on; set data.heldout_size above 0")
    infos = [read_json(path) for path in info_files]
    for seed, info in zip(seeds, infos):
        if info["method"] != ingredients or info["seed"] != seed:
            raise ValueError(f"soup {soup!r}: expected the {ingredients!r} run of seed {seed}, got {info['method']!r} "
                             f"seed {info['seed']}")
    model, tokenizer = load_trained(model_dirs[0])
    states = {seed: load_trained(path)[0].state_dict() for seed, path in zip(seeds, model_dirs)}

    def heldout_score(chosen: list[int]) -> float | None:
        """The task's main metric on the held-out training rows for the mean of `chosen` (None without them)."""
        if heldout is None:
            return None
        model.load_state_dict(average_state_dicts([states[s] for s in chosen]))
        metrics, _ = score_splits(task, {"heldout": heldout}, {"heldout": predict_logits(model, heldout, tokenizer)})
        return metrics["heldout"][task.main_metric]

    own = {seed: heldout_score([seed]) for seed in seeds}
    if recipe == "greedy":
        chosen, trace = greedy_soup(seeds, own, heldout_score)
    else:
        chosen, trace = list(seeds), []
    model.load_state_dict(average_state_dicts([states[s] for s in chosen]))
    soup_heldout = heldout_score(chosen) if heldout is not None else None
    metrics, predictions = evaluate_task(model, tokenizer, task, splits, family_settings or {}, max_length,
                                         calibration_bins)
    save_trained(model, tokenizer, outputs["model"])
    with atomic_file(outputs["predictions"]) as staging:
        predictions.to_csv(staging, sep="\t", index=False)

    name = f"{soup}_{recipe}"
    compute = {  # a soup costs its ingredients' training; soup_seconds is this step (held-out scoring, mixing, dev)
        "train_seconds": sum(info["compute"]["train_seconds"] for info in infos),
        "optimizer_steps": sum(info["compute"]["optimizer_steps"] for info in infos),
        "soup_seconds": time.perf_counter() - started, "ingredients": len(seeds), "chosen": len(chosen),
    }
    facts = {
        "recipe": recipe, "ingredients_method": ingredients, "heldout_metric": task.main_metric,
        "ingredients": [{"seed": s, "run": path, "heldout_score": own[s]} for s, path in zip(seeds, model_dirs)],
        "chosen_seeds": chosen, "heldout_score": soup_heldout, "greedy_trace": trace,
    }
    write_json(outputs["metrics"], {
        "task": task.name, "method": name, "base_method": "soup", "seed": None, "main_metric": task.main_metric,
        **metrics, "soup": facts,
    })  # scores only, as a run's; what the soup cost is in train_info.json
    with atomic_file(outputs["train_log"]) as staging:
        staging.write_text("".join(json.dumps({"step": step, "seed": record["ingredient"], "added": record["added"],
                                               f"heldout_{task.main_metric}": record["soup_score"]}) + "\n"
                                   for step, record in enumerate(trace)))
    write_json(outputs["info"], {
        "task": task.name, "method": name, "base_method": "soup", "seed": None, "model": student_model,
        "hyperparameters": {"recipe": recipe, "ingredients": ingredients, "seeds": list(seeds)},
        "compute": compute, "soup": facts, "environment": environment_facts(),
    })


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(
            task_param=snakemake.params.task,
            soup=snakemake.wildcards.soup,
            recipe=snakemake.wildcards.recipe,
            ingredients=snakemake.params.ingredients,
            seeds=list(snakemake.params.seeds),
            model_dirs=list(snakemake.input.models),
            info_files=list(snakemake.input.infos),
            data_dir=snakemake.input.data,
            family_settings=snakemake.params.family_settings,
            max_length=snakemake.params.max_length,
            calibration_bins=snakemake.params.calibration_bins,
            student_model=snakemake.params.model,
            threads=snakemake.threads,
            outputs=dict(snakemake.output.items()),
            stale=snakemake.params.stale,
        )
