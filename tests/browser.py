"""Open a Snakemake HTML report in headless Chromium and report what the page shows (tests/report_check.js).

Chromium is Debian's package (`.ci/install-chromium.sh`); it runs sandbox-free with networking and background
services off, on a fresh empty profile, and prints the DOM once the page's scripts have run (virtual time budget).
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHECK_SCRIPT = Path(__file__).with_name("report_check.js")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--virtual-time-budget=30000", "--run-all-compositor-stages-before-draw"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def inspect_report(report: Path, timeout: int = 180) -> dict:
    """{"shown": {category / subcategory: page text}, "images": {name: width decoded}, "tables": {name: <table>
    count}, "errors": [...]} as the browser saw them."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed: run .ci/install-chromium.sh (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "report.html"
        source = report.read_text(encoding="utf-8")
        head, tail = source.rsplit("</body>", 1)  # the last one: embedded sources may spell the tag too
        page.write_text(f"{head}<script>{CHECK_SCRIPT.read_text()}</script></body>{tail}", encoding="utf-8")
        profile = Path(scratch) / "profile"
        profile.mkdir()
        result = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                                capture_output=True, text=True, timeout=timeout)
    matches = re.findall(r'<pre id="evidence-check">(.*?)</pre>', result.stdout, re.S)
    if not matches:
        raise RuntimeError(f"the page never finished its checks (chromium exit {result.returncode}): "
                           f"{result.stderr[-1500:]}")
    return json.loads(html.unescape(matches[-1]))
