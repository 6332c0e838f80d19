"""Resumable training: checkpoints that a killed job picks up, and that are never trusted half-written.

The Hugging Face Trainer saves model, optimizer, scheduler, RNG states and its own state (the data position) into
`checkpoint-<step>/`; `MethodCheckpoints` adds what the Trainer does not know (the method's own state: SWA's running
average, MATE-KD's generator, ...), a copy of the training log so far, and last a `complete.json` listing a sha256 of
every file. A checkpoint without that marker, or whose files no longer match it, was cut short by a kill (or damaged
since): `latest_checkpoint` warns in one line, deletes it and falls back to the one before, or to step 0.

A checkpoint folder also holds `fingerprint.json`: the run's model, settings, seed and inputs. A folder left by a run
with other settings is stale and is wiped, so an edited config never resumes from an old run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from transformers import TrainerCallback

from .distributed import barrier
from .io import atomic_dir, read_json, write_json

MARKER = "complete.json"
METHOD_TENSORS = "method_state.safetensors"
METHOD_META = "method_state.json"
LOG_COPY = "train_log.jsonl"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(paths: list[Path]) -> str:
    """One digest over files (or every file under folders): identifies inputs such as a teacher's weights."""
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            digest.update(file.name.encode() + sha256_of(file).encode())
    return digest.hexdigest()


def warn(message: str) -> None:
    """One line on the console (the job's stderr goes to its log, so write to the real stderr too)."""
    print(f"warning: {message}", file=sys.stderr)
    if sys.__stderr__ is not sys.stderr:
        print(f"warning: {message}", file=sys.__stderr__)


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint folder cannot be trusted, or None when every file matches its marker."""
    marker = folder / MARKER
    if not marker.is_file():
        return "no completion marker (cut short while being written)"
    try:
        expected = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError):
        return f"unreadable {MARKER}"
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if sha256_of(path) != digest:
            return f"{name} does not match its recorded checksum"
    return None


def claim_folder(folder: str | os.PathLike, fingerprint: dict[str, Any]) -> Path:
    """The run's checkpoint folder, emptied first if another run (another fingerprint) left it."""
    folder = Path(folder)
    stored = folder / "fingerprint.json"
    if folder.exists() and (not stored.is_file() or read_json(stored) != fingerprint):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(stored, fingerprint)
    return folder


def attempt_id(folder: str | os.PathLike) -> str:
    """The identity of this training attempt: kept while the folder holds a checkpoint to resume from (the MLflow
    run then continues), new when training starts over (the old MLflow run is then replaced)."""
    folder = Path(folder)
    stored = folder / "attempt.json"
    if stored.is_file() and any(folder.rglob(MARKER)):
        return read_json(stored)["attempt"]
    attempt = uuid.uuid4().hex
    write_json(stored, {"attempt": attempt})
    return attempt


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The newest trustworthy checkpoint under `folder`, or None to start from step 0; damaged checkpoints are
    deleted with a one-line warning."""
    folder = Path(folder)
    candidates = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for candidate in candidates:
        problem = checkpoint_problem(candidate)
        if problem is None:
            return candidate
        warn(f"{candidate}: {problem}; falling back to the checkpoint before it")
        shutil.rmtree(candidate, ignore_errors=True)
    return None


class MethodCheckpoints(TrainerCallback):
    """After the Trainer saves a checkpoint: the method's state, the log so far, the elapsed time, then the marker."""

    def __init__(self, method, log_path: Path, elapsed_before: float = 0.0):
        self.method = method
        self.log_path = Path(log_path)
        self.elapsed_before = elapsed_before
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def on_save(self, args, state, control, model=None, **kwargs):
        # Data-parallel: every rank's files (its RNG state) must be complete before rank 0 lists and marks them;
        # the barrier runs on every rank, and only rank 0 writes (the method state is the same on every rank).
        barrier()
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not state.is_world_process_zero or not folder.is_dir():
            return
        tensors, meta = self.method.state_dict()
        if tensors:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(folder / METHOD_TENSORS))
        write_json(folder / METHOD_META, {**meta, "elapsed_seconds": self.elapsed()})
        if self.log_path.is_file():
            shutil.copyfile(self.log_path, folder / LOG_COPY)
        files = {p.name: sha256_of(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MARKER}
        write_json(folder / MARKER, {"step": state.global_step, "files": files})


def restore_method_state(method, model: torch.nn.Module, checkpoint: Path) -> float:
    """Load the method's own state saved with `checkpoint`; return the training seconds spent before it."""
    meta = read_json(checkpoint / METHOD_META)
    tensors = load_file(str(checkpoint / METHOD_TENSORS)) if (checkpoint / METHOD_TENSORS).is_file() else {}
    method.load_state_dict(model, tensors, meta)
    return float(meta.get("elapsed_seconds", 0.0))


def save_stage(folder: str | os.PathLike, model: torch.nn.Module, facts: dict[str, Any], files: list[Path]) -> None:
    """Keep a finished stage of a multi-stage method (its weights, facts and files) so a rerun can skip it."""
    with atomic_dir(folder) as staging:
        save_model(model, str(staging / "model.safetensors"))
        write_json(staging / "facts.json", facts)
        for path in files:
            shutil.copyfile(path, staging / Path(path).name)
        digests = {p.name: sha256_of(p) for p in sorted(staging.iterdir()) if p.is_file()}
        write_json(staging / MARKER, {"files": digests})


def load_stage(folder: str | os.PathLike, model: torch.nn.Module) -> dict[str, Any] | None:
    """The facts of a finished stage with its weights loaded into `model`, or None if it is absent or damaged."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    problem = checkpoint_problem(folder)
    if problem is not None:
        warn(f"{folder}: {problem}; running that stage again")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    load_model(model, str(folder / "model.safetensors"))
    return read_json(folder / "facts.json")
