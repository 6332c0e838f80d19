"""Every benchmark in one go, each in a process of its own, then one table of the figures against their goals.

Run:     .venv/bin/python benchmarks/run_all.py
         (on a quiet machine; about an hour: the training benchmarks at the default studies' sizes, the test suite
         and a stand-in study for the no-op planner)
         .venv/bin/python benchmarks/run_all.py --study-dir .      (after `make study`: profile that study and time
                                                                     the no-op on it instead of a stand-in)
         .venv/bin/python benchmarks/run_all.py --quick            (a few minutes: one repetition, 300 training
                                                                     rows; checks the scripts, not the numbers)
Prints:  each benchmark's own output, then the summary table.
Writes:  benchmarks/results/<name>.json per benchmark (and benchmarks/results/summary.json)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _timing import REPO, RESULTS, environment, write_result

HERE = Path(__file__).resolve().parent
TRAINING = ("swa_overhead", "checkpoint_overhead", "kd_overhead", "throughput", "flops", "memory")
ORDER = ("planner", "planner_noop", "prediction", *TRAINING, "study_profile", "suite_profile", "precision_compare")


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    quick_training = ["--repeats", "1", "--train-size", "300"] if args.quick else []
    threads = ["--threads", str(args.threads)] if args.threads else []
    chosen = {
        "planner": ["--repeats", "2" if args.quick else "5"],
        "planner_noop": (["--study-dir", args.study_dir, "--configfile", args.configfile] if args.study_dir
                         else []) + ["--repeats", "2" if args.quick else "5"],
        "prediction": ["--repeats", "2" if args.quick else "5", *threads],
        **{name: [*quick_training, *threads] for name in TRAINING},
        "suite_profile": ["--", "-k", "not pipeline"] if args.quick else [],
    }
    if args.quick:
        chosen["memory"] = ["--repeats", "1", "--train-size", "300", *threads]
    if args.study_dir:
        results = Path(args.study_dir) / "results"
        logs = sorted((Path(args.study_dir) / ".snakemake" / "log").glob("*.snakemake.log"),
                      key=lambda p: p.stat().st_mtime)
        if logs:
            chosen["study_profile"] = ["--results-dir", str(results), "--log", str(logs[-1])]
    precision = REPO / "results" / "precision-study"
    if precision.is_dir():  # its fp32 runs are twins of the default study's bf16 runs (config/precision-study.yaml)
        chosen["precision_compare"] = ["--results-dir", str(REPO / "results"), "--reference-dir", str(precision),
                                       "--suffix", ""]
    return {name: [sys.executable, str(HERE / f"{name}.py"), *chosen[name]] for name in ORDER
            if name in chosen and name not in args.skip}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study-dir", default=None, help="working directory of a finished default study")
    parser.add_argument("--configfile", default="config/config.yaml", help="its config (with --study-dir)")
    parser.add_argument("--threads", type=int, default=None, help="threads per training job (default: the configs')")
    parser.add_argument("--quick", action="store_true", help="one repetition on small data: checks the scripts")
    parser.add_argument("--skip", nargs="+", default=[], choices=ORDER, help="benchmarks to leave out")
    args = parser.parse_args()

    plan = commands(args)
    seconds, failed = {}, []
    for name, command in plan.items():
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        if subprocess.run(command, cwd=REPO).returncode != 0:
            failed.append(name)
        seconds[name] = time.perf_counter() - started

    table = []
    for name in plan:
        path = RESULTS / f"{name}.json"
        if name in failed or not path.exists():
            table.append({"benchmark": name, "figure": "FAILED" if name in failed else "no result"})
            continue
        result = json.loads(path.read_text())
        table.append({"benchmark": name, "figure": result.get("figure"), "value": result.get("value"),
                      "goal": result.get("goal"), "seconds": round(seconds[name])})
    write_result("summary", {"rows": table, "quick": args.quick, "environment": environment(args.threads)})
    print("\n=== summary" + (" (--quick: not the numbers to report)" if args.quick else ""))
    for row in table:
        value = row.get("value")
        shown = (f"{value:.3g}" if isinstance(value, float) else
                 ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
                 if isinstance(value, dict) else str(value))
        print(f"{row['benchmark']:<18} {row['figure']}: {shown}  (goal {row.get('goal')})")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
