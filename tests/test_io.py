"""Atomic outputs: nothing half-written is ever visible, and what is written has the modes plain creation gives."""
import os
import stat

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from swa_study.io import atomic_dir, write_json
from swa_study.models import save_trained
from tiny_study import TOKENIZER


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_saved_weights_are_readable_by_the_team_under_umask_022(tmp_path, umask_022):
    """transformers writes model.safetensors through its own 0600 temporary file; the saved folder must not keep it."""
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=8))
    save_trained(model, AutoTokenizer.from_pretrained(str(TOKENIZER)), tmp_path / "model")
    assert mode(tmp_path / "model") == 0o755
    assert {path.name: mode(path) for path in (tmp_path / "model").iterdir()} == {
        name: 0o644 for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")}


def test_an_atomic_folder_gives_nested_files_and_folders_plain_modes(tmp_path, umask_022):
    with atomic_dir(tmp_path / "out") as staging:
        (staging / "split").mkdir(mode=0o700)
        (staging / "split" / "data.arrow").write_text("x")
        os.chmod(staging / "split" / "data.arrow", 0o600)
    assert mode(tmp_path / "out" / "split") == 0o755 and mode(tmp_path / "out" / "split" / "data.arrow") == 0o644
    write_json(tmp_path / "info.json", {"a": 1})
    assert mode(tmp_path / "info.json") == 0o644


def test_a_failed_block_leaves_no_folder_and_keeps_the_old_one(tmp_path):
    with atomic_dir(tmp_path / "out") as staging:
        (staging / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out") as staging:
            (staging / "new.txt").write_text("new")
            raise RuntimeError("killed half-way")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old.txt"]
    assert not list(tmp_path.glob(".out.*.tmp"))
