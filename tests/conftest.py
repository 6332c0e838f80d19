import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the Hugging Face Hub, here or in CI
os.environ["HF_DATASETS_OFFLINE"] = "1"

import random  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def tiny_classifier(tmp_path):
    """A tiny random-init BERT classifier, its (real) tokenizer, and 24 tokenised training rows."""
    from tiny_study import build_model, write_sst2
    from swa_study.data import load_task_splits, tokenize
    from swa_study.models import load_for_training
    from swa_study.study.tasks import builtin_task as get_task

    task = get_task("sst2")
    build_model(tmp_path / "models" / "tiny", layers=1, seed=0)
    write_sst2(tmp_path / "glue_data" / "SST-2", {"train": 24, "validation": 8}, random.Random(0))
    splits, _ = load_task_splits(task, tmp_path)
    model, tokenizer = load_for_training(str(tmp_path / "models" / "tiny"), task, seed=0)
    train = tokenize(splits["train"], tokenizer, task, max_length=16).remove_columns(["idx"])
    return model, tokenizer, train


# The slowest files first, slowest at the top (benchmarks/suite_profile.py measures them): `make test` runs two
# workers, one file each at a time, and they finish together only if no long file is left for the end.
SLOWEST_FILES = ("test_pipeline_beyond.py", "test_pipeline.py", "test_reliability.py", "test_pipeline_families.py",
                 "test_evidence.py", "test_pipeline_grid.py", "test_pipeline_architectures.py",
                 "test_pipeline_ecosystem.py", "test_bad_input.py", "test_distributed.py", "test_resume.py",
                 "test_tracking.py")


def pytest_collection_modifyitems(items):
    rank = {name: position for position, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order
