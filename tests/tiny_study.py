"""Build a tiny offline study for the end-to-end tests: random-init BERTs and a few dozen rows per task.

The models use the real offline tokenizer (so tokenisation is the real thing) and a tiny architecture
(so a training step costs milliseconds). The data files use the mirror's real layouts (GLUE tsv, STS-B csv).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "offline-assets"
TOKENIZER = SHARED / "models" / "paraphrase-MiniLM-L3-v2"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

POSITIVE = ["good", "great", "fine", "lovely", "superb", "charming", "moving", "funny"]
NEGATIVE = ["bad", "awful", "dull", "boring", "weak", "tedious", "messy", "flat"]
NOUNS = ["film", "story", "cast", "plot", "ending", "script", "score", "pace"]


def build_model(folder: Path, layers: int, seed: int, hidden: int = 32, dropout: float = 0.1,
                init_range: float = 0.02) -> None:
    """A random-init BERT with `layers` layers of width `hidden`, saved with the real tokenizer (`dropout` 0: a run
    whose result depends on the data order alone, as the data-parallel test compares; `init_range` hidden ** -0.5:
    weights and embedding rows at the scale of a trained checkpoint's, whose outputs depend on the tokens)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, initializer_range=init_range)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def write_sst2(folder: Path, rows: dict[str, int], rng: random.Random) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in rows.items():
        lines = ["sentence\tlabel"]
        for _ in range(count):
            label = rng.randint(0, 1)
            word = rng.choice(POSITIVE if label else NEGATIVE)
            lines.append(f"the {rng.choice(NOUNS)} is {word} .\t{label}")
        (folder / ("dev.tsv" if split == "validation" else f"{split}.tsv")).write_text("\n".join(lines) + "\n")


def write_stsb(folder: Path, rows: dict[str, int], rng: random.Random) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = {"train": "sts-train.csv", "validation": "sts-dev.csv", "test": "sts-test.csv"}
    for split, count in rows.items():
        lines = []
        for i in range(count):
            a, b = rng.choice(NOUNS), rng.choice(NOUNS)
            score = 5.0 if a == b else round(rng.uniform(0, 2.5), 2)
            lines.append(f"main-captions\tMSRvid\t2012test\t{i:04d}\t{score}\ta {a} is here .\ta {b} is here .")
        (folder / names[split]).write_text("\n".join(lines) + "\n")


COLORS = ["red", "blue", "green", "yellow", "black", "white"]
NAMES = ["anna", "boris", "carla", "dmitri", "emma", "felix", "greta", "hugo"]


def write_squad(path: Path, articles: int, rng: random.Random) -> None:
    """An official-format SQuAD v1.1 json: each question's answer is a colour word found in its paragraph."""
    data = []
    for a in range(articles):
        paragraphs = []
        for p in range(2):
            facts = [(rng.choice(NAMES), rng.choice(NOUNS), rng.choice(COLORS)) for _ in range(3)]
            context = " ".join(f"the {noun} of {name} is {color} ." for name, noun, color in facts)
            qas = []
            for q, (name, noun, color) in enumerate(facts):
                start = context.index(f"the {noun} of {name} is {color}") + len(f"the {noun} of {name} is ")
                qas.append({"id": f"a{a}p{p}q{q}", "question": f"what colour is the {noun} of {name} ?",
                            "answers": [{"text": color, "answer_start": start}] * 2})
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": f"article_{a}", "paragraphs": paragraphs})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": data}))


def write_commongen(folder: Path, rows: dict[str, int], rng: random.Random) -> None:
    """CommonGen's line-aligned src_alpha/tgt files; dev concept sets get two references each."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in rows.items():
        sources, targets = [], []
        for _ in range(count):
            name, noun, color = rng.choice(NAMES), rng.choice(NOUNS), rng.choice(COLORS)
            concepts = f"{name} {noun} {color}"
            references = [f"{name} likes the {color} {noun} .", f"the {noun} of {name} is {color} ."]
            for reference in (references if split == "dev" else references[:1]):
                sources.append(concepts)
                targets.append(reference)
        (folder / f"commongen.{split}.src_alpha.txt").write_text("\n".join(sources) + "\n")
        (folder / f"commongen.{split}.tgt.txt").write_text("\n".join(targets) + "\n")


def build_mirror(root: Path) -> Path:
    """models/tiny-teacher (2 layers), models/tiny-student (1 layer), SST-2, STS-B, SQuAD and CommonGen files.

    SST-2 and STS-B have 56 training rows: 48 to train on and 8 held out (tiny_config's data.heldout_size)."""
    rng = random.Random(0)
    build_model(root / "models" / "tiny-teacher", layers=2, seed=0)
    build_model(root / "models" / "tiny-student", layers=1, seed=1)
    write_sst2(root / "glue_data" / "SST-2", {"train": 56, "validation": 24}, rng)  # 48 train + 8 held out
    write_stsb(root / "stsbenchmark", {"train": 56, "validation": 24, "test": 24}, rng)
    write_squad(root / "squad" / "dev-v1.1.json", articles=6, rng=rng)
    write_commongen(root / "commongen", {"train": 40, "dev": 12}, rng)
    return root


def tiny_config(mirror: Path, **overrides) -> dict:
    config = {
        "study": "tiny",
        "tasks": ["sst2", "stsb"],
        "methods": ["finetune", "swa", "kd", "annealing_kd", "rail_kd", "mate_kd", "swa_kd"],
        "seeds": [1, 2],
        "assets": {"mirror": str(mirror)},
        "models": {"teacher": "tiny-teacher", "student": "tiny-student"},
        "data": {"max_length": 32, "heldout_size": 8},
        "teacher": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3},
        "student": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 2},
        "method_params": {
            "swa": {"swa_start": 0.5, "swa_every_steps": 2}, "kd": {"alpha": 0.5, "temperature": 2.0},
            "annealing_kd": {"phase1_epochs": 2, "phase2_epochs": 1, "tau_max": 2},
            "rail_kd": {"projection_dim": 16},
            "mate_kd": {"generator_steps": 1, "student_steps": 2},
            "swa_kd": {"swa_start": 0.5, "swa_every_steps": 2},
        },
        "resources": {"train_threads": 1},
        "tracking": {"enabled": True, "uri": "sqlite:///mlflow.db"},
        # the flatness analysis of every run, on a tiny budget: 2 batches of 8, 5 points on the line, 2 radii
        "analysis": {"batches": 2, "batch_size": 8, "dev_size": None, "alphas": [-0.5, 0.0, 0.5, 1.0, 1.5],
                     "radii": [0.1, 0.5], "sharpness_radius": 0.5, "directions": 2, "power_iterations": 5,
                     "hutchinson_samples": 2},
    }
    for key, value in overrides.items():
        config[key] = value
    return config


def run_snakemake(workdir: Path, config: dict, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the repository's real Snakefile on `config` inside `workdir` (`env`: variables added to ours)."""
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(config_path), "--cores", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir, env={**os.environ, **(env or {})})
