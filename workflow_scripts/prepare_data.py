"""Step prepare_data[task, tokenizer]: load a task's splits, check them, sub-sample them, tokenise them once.

Inputs:  the task's files in the offline mirror, or its Hub dataset (params.task, params.mirror).
Params:  task (name and definition), model (whose tokenizer), max_length, train_size, eval_size, sample_seed,
         heldout_size, trust_remote_code, and the task family's own settings (config `qa:` or `generation:`).
Output:  a folder of `datasets` splits (train, heldout for classification, validation, and test when labelled;
         QA adds validation_examples)
         with idx, label, token ids, plus info.json (sources and sizes). See swa_study/families.py per family.
Run:     snakemake --cores all -R prepare_data     (or any target that needs it)
"""
from pathlib import Path

from swa_study.families import prepare_task
from swa_study.io import atomic_dir, write_json
from swa_study.steps import step_log
from swa_study.study.assets import mirror_root, resolve_model
from swa_study.study.sources import hub_reference
from swa_study.study.tasks import task_from_param
from swa_study.text_inputs import load_tokenizer


def main(
    task_param: dict,
    model_name: str,
    mirror: str | None,
    max_length: int,
    train_size: int | None,
    eval_size: int | None,
    sample_seed: int,
    trust_remote_code: bool,
    family_settings: dict,
    output_dir: str,
    heldout_size: int = 0,
) -> None:
    task = task_from_param(task_param)
    root = mirror_root(mirror)
    model_path = resolve_model(model_name, root)
    tokenizer = load_tokenizer(model_path, trust_remote_code)
    splits, sources, truncated = prepare_task(task, tokenizer, model_path, root, max_length, train_size, eval_size,
                                              sample_seed, family_settings, trust_remote_code,
                                              heldout_size)  # raises on bad data
    with atomic_dir(output_dir) as staging:
        for name, split in splits.items():
            split.save_to_disk(str(Path(staging) / name))
        write_json(Path(staging) / "info.json", {
            "task": task.name, "tokenizer": model_name, "sources": sources,
            "rows": {name: len(split) for name, split in splits.items()}, "truncated": truncated,
            "hub": {name: hub_reference(task, name) for name, source in sources.items()
                    if source.startswith("hub:") and name in task.hub.splits},
            "max_length": max_length, "sample_seed": sample_seed, "heldout_size": heldout_size,
        })


if "snakemake" in globals():
    with step_log(snakemake.log[0], snakemake.output):
        main(
            task_param=snakemake.params.task,
            model_name=snakemake.params.model,
            mirror=snakemake.params.mirror,
            max_length=snakemake.params.max_length,
            train_size=snakemake.params.train_size,
            eval_size=snakemake.params.eval_size,
            sample_seed=snakemake.params.sample_seed,
            trust_remote_code=snakemake.params.trust_remote_code,
            family_settings=snakemake.params.family_settings,
            output_dir=snakemake.output[0],
            heldout_size=snakemake.params.heldout_size,
        )
