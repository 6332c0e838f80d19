"""Headless Chromium for the tests that look at what a user sees (the MLflow UI, the HTML report).

`page_text` loads a page, lets its JavaScript run for a while of virtual time, and returns the rendered DOM and its
visible text. Chromium comes from Debian's package (`make test` installs it); the flags keep it off the network.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed (apt-get install -y chromium; `make browser` does it)"
    return found


def wait_for_http(url: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(1)


def page_text(url: str, budget_ms: int = 30000) -> tuple[str, str]:
    """(rendered DOM, its visible text with whitespace collapsed) of `url` after `budget_ms` of virtual time."""
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                              f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=300).stdout
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return dom, " ".join(text.split())
