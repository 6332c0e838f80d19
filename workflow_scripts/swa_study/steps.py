"""What every step script does first: send its output to the rule's log, pin the CPU threads, seed everything,
and record the facts that make a run traceable (library versions, git commit).

torch and transformers load inside the functions that need them: the table, plot and MLflow steps import this
module too, and importing the deep-learning stack would cost each of those jobs seconds for nothing."""
from __future__ import annotations

import contextlib
import logging
import os
import platform
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Iterator, Sequence


@contextlib.contextmanager
def step_log(log_path: str | os.PathLike | None, outputs: Sequence[str] = ()) -> Iterator[None]:
    """Redirect stdout/stderr to the rule's log file; on failure also print the one-line reason to the console.
    `outputs` (the rule's) name the file when a writer that does not say which one (safetensors) runs out of disk."""
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    console = sys.__stderr__
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        logging.basicConfig(stream=log, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
        transformers = sys.modules.get("transformers")  # imported by the step script when the step uses it
        if transformers is not None:
            transformers.logging.set_verbosity_warning()
            transformers.logging.disable_default_handler()  # its handler holds the console; go through the log
            transformers.logging.enable_propagation()
        try:
            yield
        except Exception as error:
            traceback.print_exc()  # the whole story goes to the log ...
            print(f"error: {one_line(error, outputs)}", file=console)  # ... and the one-line reason to the console
            raise SystemExit(1) from None


def warn(message: str) -> None:
    """A warning the user must see: on the console (a step's stderr goes to its log) and in the step's log."""
    logging.getLogger("swa_study").warning(message)
    print(message, file=sys.__stderr__)


def one_line(error: BaseException, outputs: Sequence[str] = ()) -> str:
    """The reason for a failure in one line, naming the file when the operating system says which one, or the
    step's first output when the disk is full and the writer did not say."""
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = lines[0] if lines else type(error).__name__
    if outputs and "No space left on device" in reason:
        return f"{outputs[0]}: No space left on device (while writing this step's outputs: {reason})"
    return reason


def set_threads(threads: int) -> None:
    """Use exactly the cores Snakemake gave this job, so parallel jobs never oversubscribe the CPU."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def git_commit(folder: str | os.PathLike) -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def git_dirty(folder: str | os.PathLike) -> bool | None:
    """Whether the checkout holds uncommitted changes to tracked files: then the commit alone does not say which
    code ran (None outside a git checkout)."""
    try:
        return bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                   capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return None


def user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's numeric uid)
        return "unknown"


def environment_facts() -> dict[str, Any]:
    """Versions, the code's commit (and whether the tree was dirty) and the user, recorded with every run and
    mirrored to MLflow as its standard source tags."""
    import datasets
    import torch
    import transformers

    code = Path(__file__).resolve().parent
    return {
        "git_commit": git_commit(code),
        "git_dirty": git_dirty(code),
        "user": user_name(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "torch_threads": torch.get_num_threads(),
        "host": platform.node(),
    }
