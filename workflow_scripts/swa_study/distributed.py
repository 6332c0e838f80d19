"""Data-parallel training: one training job runs as several processes (torchrun), and still writes one set of outputs.

Why a job relaunches itself: Snakemake runs a step script as one Python process, while PyTorch's data parallelism
wants one process per device, each started by `torch.distributed.run` (torchrun) with its rank in the environment.
So a step with `resources.train_processes` > 1 re-runs its own script under torchrun (`launch`) and waits; every
rank calls the same `main`, the Hugging Face Trainer picks the process group up from the environment (gloo on a CPU,
NCCL on GPUs) and wraps the model in DistributedDataParallel. The job's outputs, its log and its MLflow run come from
rank 0 only (`is_main`); method state (SWA's running mean, a generator) is updated on every rank alike, because the
weights are identical on every rank after each optimizer step, so no rank ever waits for a collective that another
rank skips.

The global batch stays the config's `batch_size`: each of N processes takes batch_size / N rows per step
(`per_device_batch`), and accelerate hands rank r the r-th slice of each global batch of the (seeded, identical on
every rank) sampler, so the steps see the same rows as a one-process run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

ARGUMENTS_FLAG = "--distributed-arguments"


def world_size() -> int:
    """The number of processes of this training job (1 outside a torchrun launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank within the job (0 outside a torchrun launch)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes the job's outputs: rank 0, or the only process."""
    return rank() == 0


def inside_launch() -> bool:
    """Whether torchrun (or accelerate launch) started this process: then it trains, it never launches again."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def barrier() -> None:
    """Wait for every rank (a no-op with one process). Call it on every rank, never inside a rank-0-only branch."""
    if world_size() > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def per_device_batch(batch_size: int, processes: int, key: str = "batch_size",
                     over: str = "resources.train_processes") -> int:
    """Each process's (or GPU's) share of the global batch; a batch that does not split evenly is a config error,
    not a silently different global batch."""
    if processes < 1 or batch_size % processes:
        raise ValueError(f"{key} {batch_size} does not split over {over} {processes} "
                         "(each takes an equal share of the global batch): make it a multiple")
    return batch_size // processes


def threads_per_process(threads: int, processes: int) -> int:
    """The job's CPU threads shared among its processes, so N processes do not oversubscribe the cores Snakemake
    gave the job."""
    return max(1, int(threads) // max(1, processes))


def _stream(handle) -> Any:
    """`handle` when a child process can write to it directly (the rule's log), else None (then captured)."""
    try:
        handle.fileno()
        return handle
    except (AttributeError, OSError, ValueError):
        return None


def launch(script: str | Path, arguments: dict[str, Any], processes: int) -> None:
    """Run `script` as `processes` ranks under torchrun with `arguments` for its `main`, and wait for all of them.

    The ranks write to this process's stdout/stderr (the rule's log). A failure raises one line: the first failing
    rank's own one-line reason.
    """
    with tempfile.TemporaryDirectory(prefix="swa-ddp-") as folder:
        path = Path(folder) / "arguments.json"
        path.write_text(json.dumps(arguments))
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   str(script), ARGUMENTS_FLAG, str(path)]
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = _stream(sys.stdout), _stream(sys.stderr)
        result = subprocess.run(command, stdout=out or subprocess.PIPE, stderr=err or subprocess.PIPE, text=True)
        for captured, target in ((result.stdout, sys.stdout), (result.stderr, sys.stderr)):
            if captured:
                target.write(captured)
        if result.returncode != 0:
            reasons = sorted(Path(folder).glob("error-rank*.txt"))
            reason = reasons[0].read_text().strip() if reasons else f"torchrun exited with code {result.returncode}"
            raise RuntimeError(f"data-parallel training ({processes} processes) failed: {reason}")


def run_rank(main: Callable[..., Any]) -> None:
    """The body of a step script started by `launch`: call `main` with the launcher's arguments.

    A failing rank leaves its one-line reason beside the arguments file for the launcher to report.
    """
    from .steps import one_line

    path = Path(sys.argv[sys.argv.index(ARGUMENTS_FLAG) + 1])
    try:
        main(**json.loads(path.read_text()))
    except Exception as error:
        (path.parent / f"error-rank{rank()}.txt").write_text(one_line(error) + "\n")
        raise
