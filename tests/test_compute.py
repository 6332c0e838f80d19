"""Compute accounting: FLOPs from each method's passes and non-embedding parameters, real tokens, and the per-method
table with the teacher."""
import datasets
import pandas as pd
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

from swa_study.compute import (compute_table, cost_sentence, forward_facts, non_embedding_parameters, real_tokens,
                               summed_facts, training_facts)
from swa_study.methods import build_method
from swa_study.study.tasks import builtin_task

SST2 = builtin_task("sst2")


def tiny_bert(layers=1, hidden=32, intermediate=64, vocab=100, positions=16, cls=BertForSequenceClassification):
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=intermediate, max_position_embeddings=positions, num_labels=2)
    return cls(config)


def hand_count(layers, hidden, intermediate):
    """A BERT classifier's parameters outside its three embedding tables (word, position, token type): the
    embeddings' LayerNorm; per layer Q, K, V, O (H^2 + H each), the feed-forward (2 H I + I + H), two LayerNorms
    (4 H); the pooler (H^2 + H); the 2-class head (2 H + 2)."""
    h, i = hidden, intermediate
    return 2 * h + layers * (4 * (h * h + h) + 2 * h * i + i + h + 4 * h) + h * h + h + 2 * h + 2


def test_non_embedding_parameters_leave_out_every_embedding_table_as_transformers_does():
    model = tiny_bert(layers=2)
    assert non_embedding_parameters(model) == hand_count(2, 32, 64) == 18_274
    assert non_embedding_parameters(model) == model.num_parameters(exclude_embeddings=True)
    tables = (100 + 16 + 2) * 32  # word, position and token-type embeddings
    assert sum(p.numel() for p in model.parameters()) - non_embedding_parameters(model) == tables
    generator = tiny_bert(cls=BertForMaskedLM)  # its output matrix is the word embeddings: counted once, with them
    assert non_embedding_parameters(generator) == generator.num_parameters(exclude_embeddings=True)


def test_training_flops_are_2n_forward_and_4n_backward_per_token_with_non_embedding_n():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3))  # 40 looked up + 15 multiplied
    facts = training_facts({"student": model}, {"student": {"forward": 1000, "backward": 1000}}, tokens=1000)
    assert facts["trainable_parameters"] == 55 and facts["non_embedding_parameters"] == {"student": 15}
    assert facts["train_flops"] == facts["student_flops"] == 6 * 15 * 1000
    assert facts["train_flops_with_embeddings"] == 6 * 55 * 1000
    assert facts["teacher_flops"] == facts["generator_flops"] == 0.0
    assert facts["peak_rss_mb"] > 10
    inference = forward_facts(model, tokens=10, seconds=1.5)
    assert inference["flops"] == 2 * 15 * 10 and inference["flops_with_embeddings"] == 2 * 55 * 10
    with pytest.raises(ValueError, match="unknown pass kinds"):
        training_facts({"student": model}, {"student": {"sideways": 1}}, tokens=1)


def method_flops(name, tokens, **params):
    """training_facts of `name`'s passes over `tokens` training tokens, student and teacher tiny BERTs."""
    method = build_method(name, SST2, params)
    student, teacher = tiny_bert(layers=1), tiny_bert(layers=2)
    if name in ("rail_kd", "kd"):
        method.teacher = teacher
    return training_facts(method.pass_models(student), method.pass_tokens(tokens), tokens)


def test_sam_counts_two_forward_backward_passes_rail_kd_the_teachers_forward():
    n_student, n_teacher, tokens = hand_count(1, 32, 64), hand_count(2, 32, 64), 1000
    finetune = method_flops("finetune", tokens)
    assert finetune["train_flops"] == 6 * n_student * tokens
    assert method_flops("sam", tokens)["train_flops"] == 2 * finetune["train_flops"]
    assert method_flops("sam_swa", tokens, learning_rate=1e-3)["train_flops"] == 2 * finetune["train_flops"]
    rail = method_flops("rail_kd", tokens)
    assert rail["teacher_flops"] == 2 * n_teacher * tokens
    assert rail["train_flops"] == (6 * n_student + 2 * n_teacher) * tokens
    assert method_flops("kd", tokens)["teacher_flops"] == 2 * n_teacher * tokens  # word-level KD's live teacher


def test_mate_kd_counts_its_perturbed_pass_the_teacher_and_the_generator_steps():
    method = build_method("mate_kd", SST2, {})
    student, teacher, generator = tiny_bert(layers=1), tiny_bert(layers=2), tiny_bert(layers=1, cls=BertForMaskedLM)
    method.teacher, method.generator = teacher, generator
    method.generator_tokens = {"forward": 300, "backward": 200}  # one generator step of 100 had nothing masked
    facts = training_facts(method.pass_models(student), method.pass_tokens(1000), 1000)
    n_s, n_t, n_g = (non_embedding_parameters(m) for m in (student, teacher, generator))
    # per student token: clean + perturbed forward and backward; teacher and generator forward on the perturbed
    # input; per generator token: generator forward + backward, student and teacher forward + backward to inputs
    assert facts["student_flops"] == (2 * 2 + 4 * 2) * n_s * 1000 + 2 * n_s * 300 + 2 * n_s * 200
    assert facts["teacher_flops"] == 2 * n_t * (1000 + 300) + 2 * n_t * 200
    assert facts["generator_flops"] == 2 * n_g * (1000 + 300) + 4 * n_g * 200
    assert facts["train_flops"] == facts["student_flops"] + facts["teacher_flops"] + facts["generator_flops"]


def test_a_multi_phase_run_sums_its_phases_tokens_passes_and_flops():
    model = torch.nn.Linear(4, 3)
    phases = [training_facts({"student": model}, {"student": {"forward": n, "backward": n}}, n) for n in (10, 30)]
    total = summed_facts(phases)
    assert total["tokens"] == 40 and total["pass_tokens"] == {"student": {"forward": 40, "backward": 40}}
    assert total["train_flops"] == 6 * 15 * 40 and total["train_flops_with_embeddings"] == 6 * 15 * 40


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
