"""Headless Chromium for the tests that look at what a user sees (the MLflow UI, the HTML report).

`page_text` loads a page, lets its JavaScript run for a while of virtual time, and returns the rendered DOM and its
visible text; `inspect_report` opens a Snakemake HTML report with tests/report_check.js and returns what the page
shows. Chromium comes from Debian's package (`make test` installs it); the flags keep it off the network, on a fresh
empty profile.
"""
from __future__ import annotations

import contextlib
import html
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000"]
REPORT_FLAGS = ["--disable-extensions", "--virtual-time-budget=30000", "--run-all-compositor-stages-before-draw"]
CHECK_SCRIPT = Path(__file__).with_name("report_check.js")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed (apt-get install -y chromium; `make browser` does it)"
    return found


@contextlib.contextmanager
def mlflow_ui(workdir: Path) -> Iterator[str]:
    """`mlflow ui` on a study's sqlite store, on a free loopback port, as `make ui` starts it; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "ui", "--backend-store-uri",
                               f"sqlite:///{workdir}/mlflow.db", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run(["kill", "--", f"-{server.pid}"], check=False)
        server.wait()


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


def page_text(url: str, budget_ms: int = 30000, attempts: int = 3) -> tuple[str, str]:
    """(rendered DOM, its visible text with whitespace collapsed) of `url` after `budget_ms` of virtual time.

    A loaded machine can serve a single-page app's script bundles after Chromium's virtual time has run out, so
    the dump shows no more than the page's title and its <noscript> text; then the page is loaded again (up to
    `attempts` times, each with twice the budget) and the last dump is returned, whatever it shows."""
    for attempt in range(attempts):
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                  f"--virtual-time-budget={budget_ms * 2 ** attempt}", "--dump-dom", url],
                                 capture_output=True, text=True, timeout=300).stdout
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
        text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
        rendered = re.sub(r"<(script|style|noscript|title)\b.*?</\1>", " ", dom, flags=re.S)
        if len(re.sub(r"<[^>]+>", " ", rendered).split()) > 3:
            break
    return dom, text


def inspect_report(report: Path, timeout: int = 180) -> dict:
    """{"shown": {category / subcategory: page text}, "images": {name: width decoded}, "tables": {name: <table>
    count}, "errors": [...]} as the browser saw them."""
    binary = chromium()
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "report.html"
        source = report.read_text(encoding="utf-8")
        head, tail = source.rsplit("</body>", 1)  # the last one: embedded sources may spell the tag too
        page.write_text(f"{head}<script>{CHECK_SCRIPT.read_text()}</script></body>{tail}", encoding="utf-8")
        profile = Path(scratch) / "profile"
        profile.mkdir()
        command = [binary, *CHROMIUM_FLAGS, *REPORT_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
        result = subprocess.run(command,
                                capture_output=True, text=True, timeout=timeout)
    matches = re.findall(r'<pre id="evidence-check">(.*?)</pre>', result.stdout, re.S)
    if not matches:
        raise RuntimeError(f"the page never finished its checks (chromium exit {result.returncode}): "
                           f"{result.stderr[-1500:]}")
    return json.loads(html.unescape(matches[-1]))
