"""Atomic file output: a step that dies half-way must never leave a file that looks finished.

Temporary names come from `tempfile`, which creates files 0600 and folders 0700; once complete they get the modes
ordinary creation would give (0666 and 0777 minus the umask), so a team sharing results/ can read them. Inside a
folder too: transformers writes model.safetensors through a temporary file of its own (0600).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def as_created(path: str | os.PathLike, folder: bool = False) -> None:
    """Give a finished temporary file or folder the mode that plain creation would (honouring the umask)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers see the old file or the whole new one."""
    with atomic_file(path) as staging:
        with open(staging, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as handle:
        return json.load(handle)


def _remove_leftovers(path: Path) -> None:
    """Temporary siblings that a killed writer of `path` left behind (one job writes a given path at a time)."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to `path` only if the block finishes without an exception."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for folder, subfolders, files in os.walk(staging):
        as_created(folder, folder=True)
        for name in files:
            as_created(os.path.join(folder, name))
    if path.exists():
        shutil.rmtree(path)
    os.replace(staging, path)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it to `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(name)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    as_created(name)
    os.replace(name, path)


def remove_stale(paths: Iterable[str | os.PathLike]) -> None:
    """Delete results that a job about to run makes stale (a run's old scores, the study's tables built on them).

    Snakemake removes a job's own outputs before rerunning it, but not what was computed from them: without this,
    a rerun that fails would leave the tables showing a score whose run is gone.
    """
    for path in map(Path, paths):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
