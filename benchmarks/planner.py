"""How long `snakemake -n --configfile config/paper.yaml` takes to plan the paper-scale grid, and where it goes.

Run:     .venv/bin/python benchmarks/planner.py
         (5 interleaved repetitions from the repository root; --repeats 10 to change them)
Prints:  the median seconds of the paper plan (goal < 3 s, >= 700 jobs) and of the default study's plan, beside
         what bounds them from below: Snakemake's own start-up (`snakemake --version`) and the study layer alone
         (loading and checking paper.yaml, methods.yaml, tasks.yaml and the schema in a bare Python process), and
         if installed, the SLURM executor plugin's import, which every Snakemake start pays for.
Writes:  benchmarks/results/planner.json

Each case is a fresh process, as a user's every `snakemake` call is. `python -X importtime` and cProfile show the
rest; see benchmarks/README.md for what they showed.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
from pathlib import Path

from _timing import REPO, environment, interleaved, run_child, stub_scontrol_env, summary, write_result

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
STUDY_LAYER = ("import sys; sys.path.insert(0, 'workflow_scripts')\n"
               "from swa_study.study.config import read_config_file\n"
               "from swa_study.study.plan import load_study\n"
               "study = load_study(read_config_file('config/paper.yaml'), 'config/paper.yaml', 'config')\n"
               "print(len(study.runs()))")
CASES = {
    "paper_plan": [SNAKEMAKE, "-n", "--configfile", "config/paper.yaml"],
    "default_plan": [SNAKEMAKE, "-n"],
    "snakemake_startup": [SNAKEMAKE, "--version"],
    "study_layer": [sys.executable, "-c", STUDY_LAYER],
}
# Snakemake imports every installed executor plugin at start-up; the SLURM one imports pandas and, where the Slurm
# client tools are on PATH, runs `scontrol show config` (up to a 10 s timeout when no controller answers).
PLUGIN = "snakemake_executor_plugin_slurm"
if importlib.util.find_spec(PLUGIN) is not None:
    CASES["slurm_plugin_import"] = [sys.executable, "-c", f"import {PLUGIN}"]


def planned_jobs(output: str) -> int | None:
    """The `total` line of Snakemake's job stats; 0 for a finished study (Snakemake prints no table then)."""
    found = re.search(r"^total\s+(\d+)\s*$", output, re.MULTILINE)
    if found:
        return int(found.group(1))
    return 0 if "Nothing to be done" in output else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (figures are medians)")
    parser.add_argument("--stub-scontrol", action="store_true",
                        help="put an `scontrol` that fails at once first on PATH: where the Slurm client is installed "
                             "but no controller answers, the SLURM executor plugin otherwise waits up to 10 s at "
                             "every Snakemake start (what a machine without Slurm does not pay)")
    args = parser.parse_args()

    outputs: dict[str, str] = {}
    env = stub_scontrol_env(Path(tempfile.mkdtemp(prefix="bench-stub-"))) if args.stub_scontrol else None

    def case(name: str):
        def run() -> float:
            seconds, _, result = run_child(CASES[name], cwd=REPO, env=env)
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(CASES[name])} failed:\n{result.stderr[-2000:]}")
            outputs[name] = result.stdout + result.stderr
            return seconds

        return run

    samples = interleaved({name: case(name) for name in CASES}, args.repeats, warmup=True)
    medians = {name: summary(values)["median"] for name, values in samples.items()}
    jobs = {name: planned_jobs(outputs[name]) for name in ("paper_plan", "default_plan")}
    result = {
        "figure": "snakemake -n --configfile config/paper.yaml, seconds", "goal": "< 3 s with >= 700 jobs",
        "value": medians["paper_plan"], "jobs": jobs, "seconds": {n: summary(v) for n, v in samples.items()},
        "settings": {"repeats": args.repeats, "stub_scontrol": args.stub_scontrol}, "environment": environment(),
    }
    path = write_result("planner", result)
    print(f"paper plan:        {medians['paper_plan']:.2f} s for {jobs['paper_plan']} jobs (goal < 3 s, >= 700 jobs)")
    print(f"default plan:      {medians['default_plan']:.2f} s for {jobs['default_plan']} jobs")
    print(f"snakemake --version {medians['snakemake_startup']:.2f} s (Snakemake's own start-up and plugins)")
    print(f"study layer alone: {medians['study_layer']:.2f} s (python start-up, load and check paper.yaml)")
    if "slurm_plugin_import" in medians:
        print(f"of Snakemake's start-up, the installed SLURM executor plugin alone: "
              f"{medians['slurm_plugin_import']:.2f} s (python start-up, pandas, `scontrol show config`)")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
