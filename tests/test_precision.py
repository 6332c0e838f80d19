"""The `precision` setting: config keys, the Trainer switches they become, and bf16 autocast that ends with training.

bf16 must really reach the forward pass while training (a hook sees bf16 activations), the weights must stay fp32,
and the trained model must predict in fp32 afterwards (scores then compare across precision settings).
"""
import copy
from pathlib import Path

import pytest
import torch
import yaml

from swa_study.methods import build_method
from swa_study.study.config import ConfigError
from swa_study.study.plan import load_study
from swa_study.study.tasks import builtin_task
from swa_study import training
from swa_study.training import (TrainSettings, bf16_is_fast, precision_arguments, resolve_precision,
                                train_model, training_arguments)

SST2 = builtin_task("sst2")
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def base_config() -> dict:
    return yaml.safe_load((CONFIG_DIR / "config.yaml").read_text())


def test_precision_becomes_the_trainers_mixed_precision_switches(tmp_path):
    assert precision_arguments("fp32") == {}
    expected = {"bf16": True} if torch.cuda.is_available() else {"bf16": True, "use_cpu": True}
    assert precision_arguments("bf16") == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="precision fp16 needs a GPU"):
            precision_arguments("fp16")
    with pytest.raises(ValueError, match="precision must be auto, fp32, bf16 or fp16, got 'fp8'"):
        precision_arguments("fp8")
    settings = TrainSettings.from_params({"epochs": 1, "learning_rate": 1e-3, "batch_size": 4, "precision": "bf16",
                                          "group_by_length": False}, seed=0)
    args = training_arguments(settings, tmp_path)
    assert args.bf16 and not args.fp16 and args.train_sampling_strategy == "random"
    plain = training_arguments(TrainSettings(epochs=1, learning_rate=1e-3, batch_size=4), tmp_path)
    assert not plain.bf16 and plain.train_sampling_strategy == "group_by_length"  # the defaults


def test_precision_is_a_training_key_for_students_teachers_and_variants(tmp_path):
    config = base_config()
    config["student"]["precision"] = "bf16"
    config["methods"] = ["finetune", "swa_fp32"]
    config["variants"] = {"swa_fp32": {"method": "swa", "precision": "fp32", "group_by_length": False}}
    study = load_study(config, "study.yaml", CONFIG_DIR)
    assert study.student_params("finetune", "sst2")["precision"] == "bf16"
    assert study.student_params("swa_fp32", "sst2")["precision"] == "fp32"
    assert study.student_params("swa_fp32", "sst2")["group_by_length"] is False
    assert study.teacher_params("sst2")["precision"] == "auto"  # the default study's (config/config.yaml)
    config.pop("teacher")
    assert load_study(config, "study.yaml", CONFIG_DIR).teacher_params("sst2")["precision"] == "fp32"  # the schema's
    assert study.student_params("finetune", "sst2")["group_by_length"] is True  # students: grouped by default,
    assert study.teacher_params("sst2")["group_by_length"] is False  # the teacher: random batches (batching study)
    config = base_config()
    config["teacher"] = {"group_by_length": True}
    assert load_study(config, "study.yaml", CONFIG_DIR).teacher_params("sst2")["group_by_length"] is True
    bad = base_config()
    bad["teacher"] = {"precision": "fp8"}
    with pytest.raises(ConfigError, match=r"^study.yaml: teacher.precision: 'fp8' is not one of"):
        load_study(bad, "study.yaml", CONFIG_DIR)


@pytest.mark.skipif(torch.cuda.is_available(), reason="reads the CPU's flags")
def test_auto_is_bf16_exactly_where_the_cpu_computes_in_bf16(tmp_path, monkeypatch):
    with_bf16, without = tmp_path / "sapphire-rapids", tmp_path / "skylake"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert bf16_is_fast(with_bf16) and not bf16_is_fast(without) and not bf16_is_fast(tmp_path / "no-such-file")
    for fast, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(training, "bf16_is_fast", lambda fast=fast: fast)
        assert resolve_precision("auto") == expected
        assert precision_arguments("auto") == precision_arguments(expected)
        assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"  # explicit values stand


class DtypeSpy:
    """Records the dtype of the classifier's output on every forward pass."""

    def __init__(self, module: torch.nn.Module):
        self.dtypes: list[torch.dtype] = []
        module.register_forward_hook(lambda _m, _i, output: self.dtypes.append(output.dtype))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks CPU autocast")
def test_bf16_training_autocasts_the_forward_pass_and_leaves_fp32_weights_and_fp32_prediction(tiny_classifier,
                                                                                              tmp_path):
    model, tokenizer, train = tiny_classifier
    before = copy.deepcopy(model)
    spy = DtypeSpy(model.classifier)
    hp = {"epochs": 1, "learning_rate": 1e-3, "batch_size": 8, "logging_steps": 1, "precision": "bf16"}
    method = build_method("finetune", SST2, hp)
    compute = train_model(model, tokenizer, method, train,
                          training_arguments(TrainSettings.from_params(hp, 0), tmp_path), tmp_path / "log.jsonl")
    assert spy.dtypes and set(spy.dtypes) == {torch.bfloat16}  # autocast was on while training
    assert compute["precision"] == "bf16"  # what train_info.json records
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.equal(before.classifier.weight, model.classifier.weight)  # it did train
    before.load_state_dict(model.state_dict())  # an fp32 copy with the trained weights
    model.eval(), before.eval()
    batch = {k: torch.tensor(train[:4][k]) for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, before(**batch).logits)  # no autocast left after training
    assert spy.dtypes[-1] == torch.float32
