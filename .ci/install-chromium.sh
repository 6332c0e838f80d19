#!/usr/bin/env bash
# CI: the headless browser that tests/test_evidence.py opens the HTML report in (Debian's chromium package).
# Call it from .ci/run before `make test`; a no-op when chromium is already there. Needs root (or sudo) for apt.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
chromium --version
