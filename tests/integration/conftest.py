"""Services for the integration tests, started by the repository's own scripts (.ci/services/*.sh).

Each script is idempotent: CI starts the services before pytest (so their start-up is timed on its own), and a
developer's `pytest tests/integration -m slurm` starts whatever is not running yet. A service that cannot start
fails the test with the script's own message and log tails: these tests never skip.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_study import REPO

SERVICES = REPO / ".ci" / "services"


def start_service(script: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Run `<script> start` and return the KEY=VALUE lines it prints (what clients need to reach the service)."""
    result = subprocess.run(["bash", str(SERVICES / script), "start"], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"{script} start failed ({result.returncode}):\n{result.stderr[-4000:]}", pytrace=False)
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="session")
def slurm_cluster() -> dict[str, str]:
    """The one-node SLURM cluster on loopback: {"SLURM_CONF": ...}."""
    return start_service("slurm.sh")


@pytest.fixture(scope="session")
def mlflow_server() -> dict[str, str]:
    """PostgreSQL + `mlflow server` on loopback: MLFLOW_TRACKING_URI, SWA_MLFLOW_STORE, SWA_MLFLOW_ARTIFACTS."""
    return start_service("postgres-mlflow.sh", {"MLFLOW": str(Path(sys.executable).parent / "mlflow")})
