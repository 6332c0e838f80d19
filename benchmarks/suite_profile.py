"""How long the test suite takes, and which test files take it.

Run:     .venv/bin/python benchmarks/suite_profile.py
         (the whole suite, as `make test` runs it: two workers; --workers 1 for one process; extra arguments go to
         pytest, e.g. `-- -k "not pipeline"`)
Prints:  the suite's wall time and test count, then the seconds per test file (set-up, call and tear-down summed
         from pytest's --durations=0 report; with two workers they add up to about twice the wall time) with their
         share, the slowest tests, and the share of each rule in the job seconds of every Snakemake run the tests
         started (their logs in the run's --basetemp).
Writes:  benchmarks/results/suite_profile.json
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from _timing import REPO, environment, run_child, write_result
from study_profile import parse_log

DURATION = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+?)(?:::(\S+))?$")
SUMMARY = re.compile(r"^(?:=+ )?(\d+ (?:passed|failed|error).*?) in ([\d.]+)s", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slowest", type=int, default=10, help="how many of the slowest tests to list")
    parser.add_argument("--workers", type=int, default=2, help="pytest workers, as `make test` (TEST_WORKERS)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()

    basetemp = Path(tempfile.mkdtemp(prefix="suite-profile-"))
    parallel = ["-n", str(args.workers), "--dist", "loadfile", "--no-loadscope-reorder"] if args.workers > 1 else []
    command = [sys.executable, "-m", "pytest", *parallel, "--durations=0", "--durations-min=0", "-q",
               "--basetemp", str(basetemp), *args.pytest_args]
    seconds, peak_mb, result = run_child(command, cwd=REPO)
    output = result.stdout + result.stderr
    rules = rule_seconds(basetemp)
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
        "exit_code": result.returncode, "peak_mb": peak_mb, "files": files, "slowest_tests": slowest, "rules": rules,
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
    print(f"{'rule':<22}{'jobs':>6}{'job s':>9}{'mean s':>8}{'share':>8}   (Snakemake runs of the tests)")
    for rule, row in rules.items():
        print(f"{rule:<22}{row['jobs']:>6}{row['seconds']:>9.0f}{row['mean']:>8.1f}{row['share']:>8.1%}")
    print(f"-> {path}  (test folders and Snakemake logs: {basetemp})")


def rule_seconds(basetemp: Path) -> dict[str, dict]:
    """{rule: jobs, summed and mean seconds, share} over every Snakemake log the tests left under `basetemp`."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for log in basetemp.rglob("*.snakemake.log"):
        for job in parse_log(log)[0]:
            seconds[job["rule"]].append(job["seconds"])
    total = sum(map(sum, seconds.values())) or 1.0
    return {rule: {"jobs": len(values), "seconds": sum(values), "mean": sum(values) / len(values),
                   "share": sum(values) / total}
            for rule, values in sorted(seconds.items(), key=lambda item: -sum(item[1]))}


if __name__ == "__main__":
    main()
