"""What a run cost, for the "no extra compute" link: the facts each training job records, and the per-method table.

A training job records (train_info.json `compute`, and the teacher's metrics.json): wall time, optimizer steps,
the real (non-padding) input tokens the Trainer counted (`include_num_input_tokens_seen`), trainable parameters,
training FLOPs, and the job's peak resident memory.

FLOPs count every pass a method runs through every model (Kaplan et al. 2020): a forward pass costs 2 N per token,
a backward pass 4 N (gradients of the activations and of the weights), a backward pass that only carries the
gradient through a model to its inputs 2 N (MATE-KD's generator steps through the student and the frozen teacher).
N is the model's non-embedding parameters, as transformers' `num_parameters(exclude_embeddings=True)` and
`floating_point_ops` count them: an embedding row is looked up, not multiplied. Each method says which passes it
runs (`TrainingMethod.pass_tokens`: real tokens per model and pass kind): SAM two forward/backward passes per batch,
RAIL-KD a teacher forward per batch, MATE-KD a second student pass on the perturbed input, a teacher forward on it,
the generator's sampling forward and its own steps, word-level KD its teacher forward. `train_flops` is their sum
with non-embedding N; `train_flops_with_embeddings` the same with every parameter (the formula read literally);
`student_flops`, `teacher_flops`, `generator_flops` the split of `train_flops`. Left out, as the convention leaves
out the output (de-embedding) product: attention's context-length term, the MLM head's vocabulary product and the
one-hot x embedding products of MATE-KD's generator steps, RAIL-KD's projection heads (one row per example).
The teacher's training (its own job, the same rule) and its logits pass (2 N per token) are charged to the methods
that need them (config/methods.yaml `teacher`) in tables/compute.csv.
"""
from __future__ import annotations

import math
import resource
import sys
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # the reporting steps import this module: torch only where a model is counted
    import torch

PASS_FLOPS = {"forward": 2, "backward": 4, "input_backward": 2}  # per token and parameter, by pass kind
MODELS = ("student", "teacher", "generator")  # the models a training method may run; each has its FLOPs key


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def trainable_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def all_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def non_embedding_parameters(model) -> int:
    """N of the FLOPs estimate: every parameter but the `nn.Embedding` tables (word, position and token-type
    embeddings), as transformers' `num_parameters(exclude_embeddings=True)`; an output matrix tied to the word
    embeddings (an MLM head's) counts once, with them. A token looks its embedding rows up; it multiplies the rest."""
    from torch import nn

    tables = {id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)}
    return sum(p.numel() for p in model.parameters() if id(p) not in tables)


def real_tokens(split) -> int:
    """Non-padding tokens of a tokenised split (its attention masks; unpadded rows count every id)."""
    if "attention_mask" in split.column_names:
        return int(sum(sum(mask) for mask in split["attention_mask"]))
    return int(sum(len(ids) for ids in split["input_ids"]))


def pass_flops(parameters: int, passes: dict[str, int]) -> float:
    """FLOPs of the passes {kind: tokens} through a model of `parameters`: sum of PASS_FLOPS[kind] x N x tokens."""
    unknown = set(passes) - set(PASS_FLOPS)
    if unknown:
        raise ValueError(f"unknown pass kinds {sorted(unknown)}; known: {sorted(PASS_FLOPS)}")
    return float(sum(PASS_FLOPS[kind] * parameters * tokens for kind, tokens in passes.items()))


def training_facts(models: dict[str, torch.nn.Module], pass_tokens: dict[str, dict[str, int]],
                   tokens: int) -> dict[str, Any]:
    """The compute facts a finished training run adds to its record.

    `models` maps "student" (the trained model), "teacher", "generator" to the models the run used, `pass_tokens`
    each of them to the real tokens of its passes by kind (PASS_FLOPS), `tokens` the Trainer's count.
    """
    if set(pass_tokens) - set(models):
        raise ValueError(f"passes through models the run does not name: {sorted(set(pass_tokens) - set(models))}")
    non_embedding = {name: non_embedding_parameters(models[name]) for name in pass_tokens}
    flops = {name: pass_flops(non_embedding[name], passes) for name, passes in pass_tokens.items()}
    with_embeddings = sum(pass_flops(all_parameters(models[name]), passes) for name, passes in pass_tokens.items())
    return {"tokens": int(tokens), "trainable_parameters": trainable_parameters(models["student"]),
            "non_embedding_parameters": non_embedding,
            "pass_tokens": {name: {kind: int(n) for kind, n in passes.items()} for name, passes in pass_tokens.items()},
            "train_flops": float(sum(flops.values())), "train_flops_with_embeddings": float(with_embeddings),
            **{f"{name}_flops": flops.get(name, 0.0) for name in MODELS}, "peak_rss_mb": peak_rss_mb()}


FLOPS_KEYS = ("train_flops", "train_flops_with_embeddings", *(f"{name}_flops" for name in MODELS))


def summed_facts(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens, passes and FLOPs of a run trained in several phases (Annealing-KD): the sums over its phases."""
    passes: dict[str, dict[str, int]] = {}
    for facts in phases:
        for name, kinds in facts["pass_tokens"].items():
            for kind, n in kinds.items():
                passes.setdefault(name, {})[kind] = passes.get(name, {}).get(kind, 0) + n
    return {"tokens": sum(f["tokens"] for f in phases), "pass_tokens": passes,
            **{key: sum(f[key] for f in phases) for key in FLOPS_KEYS}}


def forward_facts(model, tokens: int, seconds: float) -> dict[str, float | int]:
    """The compute facts of an inference pass (the teacher's logits on the training set): 2 N per token, N the
    non-embedding parameters as in training; `flops_with_embeddings` with every parameter."""
    parameters, non_embedding = all_parameters(model), non_embedding_parameters(model)
    return {"seconds": seconds, "tokens": int(tokens), "parameters": parameters,
            "non_embedding_parameters": non_embedding,
            "flops": pass_flops(non_embedding, {"forward": tokens}),
            "flops_with_embeddings": pass_flops(parameters, {"forward": tokens}), "peak_rss_mb": peak_rss_mb()}


COLUMNS = ["task", "method", "runs", "train_seconds", "optimizer_steps", "tokens", "train_flops", "peak_rss_mb",
           "teacher_train_seconds", "teacher_train_flops", "teacher_logits_seconds", "teacher_logits_flops",
           "total_seconds", "total_flops", "seconds_vs_finetune", "flops_vs_finetune",
           "tuning_trials", "tuning_seconds", "tuning_flops", "tuned_total_seconds", "tuned_total_flops",
           "tuned_seconds_vs_finetune", "tuned_flops_vs_finetune"]


def compute_table(runs: pd.DataFrame, teachers: pd.DataFrame, logits: dict[str, dict],
                  teacher_needs: dict[str, dict[str, list[str]]], methods: list[str],
                  trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (task, method): mean cost of one student run over seeds, plus the teacher's training (methods that need
    the teacher at all) and its logits pass (methods that read cached logits), and the ratio of the total to
    `finetune`'s in the same study. The teacher is trained once per task and shared, so the total is what one
    run of the method costs when it is the only user of the teacher.

    `logits` maps a task to its logits pass facts (teacher_logits' train_logits.json); `teacher_needs` maps task ->
    method -> what the method takes from the teacher ("logits", "model").

    `trials` (task, method, train_seconds, train_flops per tuning trial) charges tuning to its method: the
    `tuned_total_*` columns are what one tuned run of the method costs, its trials included, so "no extra
    compute" can be read with tuning in (every method gets the same number of trials).
    """
    columns = ["train_seconds", "optimizer_steps", "tokens", "train_flops", "peak_rss_mb"]
    grouped = runs.groupby(["task", "method"], sort=False)
    table = grouped[[c for c in columns if c in runs]].mean().reindex(columns=columns)
    table["runs"] = grouped.size()
    table = table.reset_index()
    order = {m: i for i, m in enumerate(methods)}
    table = table.sort_values(["task", "method"], key=lambda s: s.map(order) if s.name == "method" else s,
                              kind="stable")
    teacher = teachers.set_index("task") if len(teachers) else pd.DataFrame()

    def teacher_fact(task: str, key: str) -> float:
        return float(teacher.loc[task, key]) if key in teacher and task in teacher.index else math.nan

    rows = []
    for row in table.to_dict("records"):
        needs = teacher_needs.get(row["task"], {}).get(row["method"], [])
        uses_logits = "logits" in needs
        row["teacher_train_seconds"] = teacher_fact(row["task"], "train_seconds") if needs else 0.0
        row["teacher_train_flops"] = teacher_fact(row["task"], "train_flops") if needs else 0.0
        row["teacher_logits_seconds"] = logits.get(row["task"], {}).get("seconds", math.nan) if uses_logits else 0.0
        row["teacher_logits_flops"] = logits.get(row["task"], {}).get("flops", math.nan) if uses_logits else 0.0
        row["total_seconds"] = row["train_seconds"] + row["teacher_train_seconds"] + row["teacher_logits_seconds"]
        row["total_flops"] = row["train_flops"] + row["teacher_train_flops"] + row["teacher_logits_flops"]
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS[:COLUMNS.index("seconds_vs_finetune")])
    tuning = (trials.groupby(["task", "method"]).agg(tuning_trials=("train_seconds", "size"),
                                                     tuning_seconds=("train_seconds", "sum"),
                                                     tuning_flops=("train_flops", "sum"))
              if trials is not None and len(trials) else None)
    keys = list(zip(table.task, table.method))
    for column in ("tuning_trials", "tuning_seconds", "tuning_flops"):
        table[column] = [tuning[column].get(key, 0) if tuning is not None else 0 for key in keys]
    table["tuned_total_seconds"] = table["total_seconds"] + table["tuning_seconds"]
    table["tuned_total_flops"] = table["total_flops"] + table["tuning_flops"]
    for key, ratio in (("total_seconds", "seconds_vs_finetune"), ("total_flops", "flops_vs_finetune"),
                       ("tuned_total_seconds", "tuned_seconds_vs_finetune"),
                       ("tuned_total_flops", "tuned_flops_vs_finetune")):
        base = table[table.method == "finetune"].set_index("task")[key]
        table[ratio] = table[key] / table["task"].map(base)
    return table[COLUMNS]


def cost_sentence(table: pd.DataFrame, method: str = "swa", reference: str = "finetune") -> str:
    """One line for the summary: what `method` cost relative to `reference` in this study, task by task."""
    parts = []
    for task, rows in table.groupby("task", sort=False):
        rows = rows.set_index("method")
        if method in rows.index and reference in rows.index:
            r = rows.loc[method]
            parts.append(f"{task} {r['seconds_vs_finetune']:.2f}x wall time, {r['flops_vs_finetune']:.2f}x FLOPs")
    return f"{method} vs {reference} (same study, teacher included where used): " + "; ".join(parts) if parts else ""
