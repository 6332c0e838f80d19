"""Where a finished study's time went: its wall time, and each rule's share of the job time.

Run:     .venv/bin/python benchmarks/study_profile.py
         (the study that `make study` ran in the repository: results/ and the newest .snakemake/log/ file;
         --results-dir results/kd-study --log .snakemake/log/<file> for another one)
Prints:  the study's wall time (goal for the default study: under 20 min on a 2-core CPU), the jobs per rule, their
         summed and mean seconds and share of all job seconds, and the student runs' seconds per method.
Writes:  benchmarks/results/study_profile.json

Job seconds come from the rules' benchmark files (results/benchmarks/<rule>/*.tsv, Snakemake's own measurement)
where a rule has a `benchmark:` directive, and otherwise from the start and finish lines of Snakemake's log (to the
second). Jobs run side by side, so the job seconds add up to more than the wall time; their ratio is the average
number of jobs running.
"""
from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from _timing import REPO, write_result

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
STARTED = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
ELAPSED = re.compile(r"^Elapsed time: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def parse_log(path: Path) -> tuple[list[dict], float | None]:
    """(jobs with rule, start and end times, seconds), and the run's elapsed seconds as Snakemake reported them."""
    jobs: dict[str, dict] = {}
    stamp, rule, elapsed = None, None, None
    for line in path.read_text(errors="replace").splitlines():
        if found := STAMP.match(line):
            stamp = datetime.strptime(" ".join(found.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif found := STARTED.match(line):
            rule = found.group(1)
        elif (found := JOBID.match(line)) and rule is not None:
            jobs[found.group(1)] = {"rule": rule, "start": stamp}
            rule = None
        elif (found := FINISHED.match(line)) and found.group(1) in jobs:
            job = jobs[found.group(1)]
            job["end"] = stamp
            job["seconds"] = (stamp - job["start"]).total_seconds()
        elif found := ELAPSED.match(line):
            days, hours, minutes, seconds = found.groups()
            elapsed = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return [job for job in jobs.values() if "seconds" in job], elapsed


def benchmark_seconds(results_dir: Path) -> dict[str, list[tuple[str, float]]]:
    """{rule: [(job file stem, seconds), ...]} from the rules' Snakemake benchmark files."""
    found: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for path in sorted((results_dir / "benchmarks").glob("*/*.tsv")):
        with path.open() as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows:
            found[path.parent.name].append((path.stem, sum(float(row["s"]) for row in rows) / len(rows)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", default=str(REPO / "results"), help="the study's results_dir")
    parser.add_argument("--log", default=None, help="the study run's Snakemake log (default: the newest in "
                        ".snakemake/log/ of the repository)")
    parser.add_argument("--name", default="study_profile", help="result file name (benchmarks/results/<name>.json)")
    args = parser.parse_args()

    log = Path(args.log) if args.log else max((REPO / ".snakemake" / "log").glob("*.snakemake.log"),
                                              key=lambda p: p.stat().st_mtime)
    jobs, elapsed = parse_log(log)
    if not jobs:
        raise SystemExit(f"{log}: no finished jobs in this log; name the log of the run that trained the study")
    wall = elapsed if elapsed is not None else (max(j["end"] for j in jobs) - min(j["start"] for j in jobs)).seconds
    measured = benchmark_seconds(Path(args.results_dir))
    per_rule: dict[str, list[float]] = defaultdict(list)
    for job in jobs:
        if job["rule"] not in measured:
            per_rule[job["rule"]].append(job["seconds"])
    for rule, values in measured.items():
        per_rule[rule] = [seconds for _, seconds in values]
    total = sum(sum(values) for values in per_rule.values())
    rules = {rule: {"jobs": len(values), "seconds": sum(values), "mean_seconds": sum(values) / max(1, len(values)),
                    "share": sum(values) / total, "source": "benchmark files" if rule in measured else "log"}
             for rule, values in sorted(per_rule.items(), key=lambda item: -sum(item[1]))}
    methods: dict[str, list[float]] = defaultdict(list)
    for stem, seconds in measured.get("train_student", []):
        methods[stem.split(".")[1]].append(seconds)  # <task>.<method>.seed<N>
    result = {
        "figure": "study wall time, seconds", "goal": "default study under 20 min on a 2-core CPU",
        "value": wall, "log": str(log), "results_dir": args.results_dir, "job_seconds": total,
        "average_jobs_running": total / wall if wall else None, "rules": rules,
        "student_seconds_per_method": {m: {"runs": len(v), "mean": sum(v) / len(v)} for m, v in methods.items()},
    }
    path = write_result(args.name, result)
    print(f"wall time {wall / 60:.1f} min ({wall:.0f} s); job time {total:.0f} s, {total / wall:.2f} jobs at a time "
          f"on average ({log.name})")
    print(f"{'rule':<16}{'jobs':>5}{'seconds':>10}{'mean':>8}{'share':>8}")
    for rule, row in rules.items():
        print(f"{rule:<16}{row['jobs']:>5}{row['seconds']:>10.0f}{row['mean_seconds']:>8.1f}{row['share']:>8.1%}")
    if methods:
        print("student runs, mean seconds per method: "
              + ", ".join(f"{m} {sum(v) / len(v):.0f}" for m, v in methods.items()))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
