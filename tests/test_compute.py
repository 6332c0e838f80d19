"""Compute accounting: FLOPs from parameters and tokens, real tokens, and the per-method table with the teacher."""
import datasets
import pandas as pd
import pytest
import torch

from swa_study.compute import compute_table, cost_sentence, forward_facts, real_tokens, training_facts


def test_training_flops_are_six_times_trainable_parameters_times_tokens():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))  # 15 + 8 parameters
    model[1].weight.requires_grad_(False)  # 6 frozen: not trained, not counted
    facts = training_facts(model, tokens=1000)
    assert facts["trainable_parameters"] == 17 and facts["train_flops"] == 6 * 17 * 1000
    assert facts["peak_rss_mb"] > 10
    assert forward_facts(model, tokens=10, seconds=1.5)["flops"] == 2 * 23 * 10  # inference: every parameter


def test_real_tokens_ignore_padding():
    padded = datasets.Dataset.from_dict({"input_ids": [[1, 2, 0], [3, 0, 0]], "attention_mask": [[1, 1, 0], [1, 0, 0]]})
    assert real_tokens(padded) == 3
    assert real_tokens(datasets.Dataset.from_dict({"input_ids": [[1, 2], [3, 4, 5]]})) == 5


def test_compute_table_charges_teacher_training_and_logits_to_the_methods_that_use_them():
    runs = pd.DataFrame([{"task": "a", "method": m, "seed": s, "train_seconds": 10.0 + s, "optimizer_steps": 5,
                          "tokens": 100, "train_flops": 600.0, "peak_rss_mb": 1.0}
                         for m in ("kd", "finetune", "swa", "rail") for s in (1, 2)])
    teachers = pd.DataFrame([{"task": "a", "train_seconds": 20.0, "train_flops": 1000.0}])
    needs = {"a": {"finetune": [], "swa": [], "kd": ["logits"], "rail": ["model"]}}
    table = compute_table(runs, teachers, {"a": {"seconds": 2.0, "flops": 50.0}}, needs,
                          ["finetune", "swa", "kd", "rail"]).set_index("method")
    assert list(table.index) == ["finetune", "swa", "kd", "rail"]  # the study's order
    assert table.loc["swa", "total_seconds"] == 11.5 and table.loc["swa", "seconds_vs_finetune"] == 1.0
    assert table.loc["kd", "total_seconds"] == 11.5 + 20 + 2 and table.loc["kd", "total_flops"] == 600 + 1000 + 50
    assert table.loc["rail", "teacher_logits_flops"] == 0 and table.loc["rail", "total_flops"] == 1600
    assert table.loc["kd", "flops_vs_finetune"] == pytest.approx(1650 / 600)
    assert cost_sentence(table.reset_index()) == ("swa vs finetune (same study, teacher included where used): "
                                                 "a 1.00x wall time, 1.00x FLOPs")
