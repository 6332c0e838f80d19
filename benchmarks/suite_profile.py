"""How long the test suite takes, and which test files take it.

Run:     .venv/bin/python benchmarks/suite_profile.py
         (the whole suite, as `make test` runs it; extra arguments go to pytest, e.g. `-- -k "not pipeline"`)
Prints:  the suite's wall time and test count, then the seconds per test file (set-up, call and tear-down summed
         from pytest's --durations=0 report) with their share, and the slowest tests.
Writes:  benchmarks/results/suite_profile.json
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

from _timing import REPO, environment, run_child, write_result

DURATION = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+?)(?:::(\S+))?$")
SUMMARY = re.compile(r"^(?:=+ )?(\d+ (?:passed|failed|error).*?) in ([\d.]+)s", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slowest", type=int, default=10, help="how many of the slowest tests to list")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()

    command = [sys.executable, "-m", "pytest", "--durations=0", "--durations-min=0", "-q", *args.pytest_args]
    seconds, peak_mb, result = run_child(command, cwd=REPO)
    output = result.stdout + result.stderr
    per_file: dict[str, float] = defaultdict(float)
    per_test: dict[str, float] = defaultdict(float)
    for line in output.splitlines():
        if found := DURATION.match(line.strip()):
            value, _, file, test = found.groups()
            per_file[file] += float(value)
            per_test[f"{file}::{test}" if test else file] += float(value)
    summary = SUMMARY.findall(output)
    counts = summary[-1][0] if summary else "unknown"
    total = sum(per_file.values())
    files = {f: {"seconds": s, "share": s / total if total else None}
             for f, s in sorted(per_file.items(), key=lambda item: -item[1])}
    slowest = dict(sorted(per_test.items(), key=lambda item: -item[1])[:args.slowest])
    outcome = {
        "figure": "test suite wall seconds", "goal": "reported", "value": seconds, "tests": counts,
        "exit_code": result.returncode, "peak_mb": peak_mb, "files": files, "slowest_tests": slowest,
        "command": command, "environment": environment(),
    }
    path = write_result("suite_profile", outcome)
    print(f"test suite: {seconds / 60:.1f} min wall ({counts}; exit code {result.returncode})")
    print(f"{'file':<40}{'seconds':>9}{'share':>8}")
    for file, row in files.items():
        print(f"{file:<40}{row['seconds']:>9.1f}{row['share']:>8.1%}")
    print("slowest tests:")
    for test, value in slowest.items():
        print(f"  {value:7.1f} s  {test}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
