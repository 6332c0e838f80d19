"""What every benchmark shares: fixed threads, interleaved repetitions, medians, recorded versions, a JSON result.

Timings are taken side by side in one run: each repetition runs every case once, in a rotated order, so a burst of
load from elsewhere hits all cases alike, and the figure is a ratio of medians. Nothing here asserts a time.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def fix_threads(threads: int) -> None:
    """Pin this process (and the children it starts) to `threads` CPU threads and quieten the libraries' progress
    output; call before the first torch op."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import torch
    import transformers

    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()  # load reports and warnings would bury the figures
    transformers.logging.disable_progress_bar()


def use_repository_code() -> None:
    """Import swa_study from this checkout (the library the step scripts use), as pytest.ini does for the tests."""
    sys.path.insert(0, str(REPO / "workflow_scripts"))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(threads: int | None = None) -> dict[str, Any]:
    """Versions, machine and load: what a reader needs to judge a number, recorded with every result."""
    facts: dict[str, Any] = {
        "python": platform.python_version(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()], "threads": threads,
        "git_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                     text=True).stdout.strip() or "unknown",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    for module in ("torch", "transformers", "datasets", "accelerate", "snakemake"):
        try:
            facts[module] = __import__(module).__version__
        except ImportError:
            facts[module] = None
    return facts


def interleaved(cases: dict[str, Callable[[], float | None]], repeats: int, warmup: bool = True,
                log: Callable[[str], None] = print, cpu: dict[str, list[float]] | None = None,
                ) -> dict[str, list[float]]:
    """Seconds per case and repetition; a case returns its own measured seconds, or None to be timed whole.

    Repetition r runs the cases rotated by r places, so no case always goes first (or after the same one).
    `warmup` runs each case once first, untimed (lazy imports, allocator, kernel selection). `cpu`, if given, gets
    each call's CPU seconds (this process, all threads): less sensitive than wall time to other processes' load.
    """
    names = list(cases)
    if warmup:
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            started, cpu_started = time.perf_counter(), time.process_time()
            measured = cases[name]()
            samples[name].append(float(measured) if measured is not None else time.perf_counter() - started)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - cpu_started)
            log(f"  rep {r + 1}/{repeats} {name}: {samples[name][-1]:.3f} s")
    return samples


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1], "n": len(ordered),
            "values": [round(v, 4) for v in values]}


def ratio(numerator: list[float], denominator: list[float]) -> dict[str, float]:
    """The ratio of medians, and the spread of the per-repetition ratios (cases ran side by side in each one)."""
    paired = sorted(a / b for a, b in zip(numerator, denominator))
    return {"ratio_of_medians": statistics.median(numerator) / statistics.median(denominator),
            "paired_min": paired[0], "paired_median": statistics.median(paired), "paired_max": paired[-1]}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """benchmarks/results/<name>.json, written whole or not at all."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    staging.replace(path)
    return path


def run_child(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
              ) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run `command`; its wall seconds, its peak resident memory in MB (the child's own, from wait4) and the result."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        result = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    return seconds, usage.ru_maxrss / 1024, result


def stub_scontrol_env(folder: Path) -> dict[str, str]:
    """The environment with an `scontrol` that exits with an error at once first on PATH (see planner.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    stub = folder / "scontrol"
    stub.write_text("#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
