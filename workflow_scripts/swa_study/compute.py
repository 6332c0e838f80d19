"""What a run cost, for the "no extra compute" link: the facts each training job records, and the per-method table.

A training job records (train_info.json `compute`, and the teacher's metrics.json): wall time, optimizer steps,
the real (non-padding) input tokens the Trainer counted (`include_num_input_tokens_seen`), trainable parameters,
training FLOPs estimated as 6 x trainable parameters x tokens (forward 2 N per token, backward 4 N; Kaplan et al.
2020), and the job's peak resident memory. The estimate counts the student's own forward and backward passes:
work a method adds beside them (a teacher run during training by RAIL-KD, MATE-KD or word-level KD, MATE-KD's
generator) shows in the wall time, not in the FLOPs. The teacher's training and its logits pass (2 N per token)
are charged to the methods that need them (config/methods.yaml `teacher`).
"""
from __future__ import annotations

import math
import resource
import sys

import pandas as pd

FLOPS_PER_TOKEN_AND_PARAMETER = 6  # training: forward 2 + backward 4
FORWARD_FLOPS_PER_TOKEN_AND_PARAMETER = 2


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def trainable_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def real_tokens(split) -> int:
    """Non-padding tokens of a tokenised split (its attention masks; unpadded rows count every id)."""
    if "attention_mask" in split.column_names:
        return int(sum(sum(mask) for mask in split["attention_mask"]))
    return int(sum(len(ids) for ids in split["input_ids"]))


def training_facts(model, tokens: int) -> dict[str, float | int]:
    """The compute facts a finished training run adds to its record."""
    parameters = trainable_parameters(model)
    return {"tokens": int(tokens), "trainable_parameters": parameters,
            "train_flops": float(FLOPS_PER_TOKEN_AND_PARAMETER * parameters * tokens), "peak_rss_mb": peak_rss_mb()}


def forward_facts(model, tokens: int, seconds: float) -> dict[str, float | int]:
    """The compute facts of an inference pass (the teacher's logits on the training set)."""
    parameters = sum(p.numel() for p in model.parameters())
    return {"seconds": seconds, "tokens": int(tokens), "parameters": parameters,
            "flops": float(FORWARD_FLOPS_PER_TOKEN_AND_PARAMETER * parameters * tokens), "peak_rss_mb": peak_rss_mb()}


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
