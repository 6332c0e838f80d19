"""How long a no-op `snakemake --cores all` takes on a finished study (it must find 0 jobs to run).

Run:     .venv/bin/python benchmarks/planner_noop.py --study-dir . --configfile config/config.yaml
         (the finished default study in the repository: `make study` first; 5 repetitions)
         .venv/bin/python benchmarks/planner_noop.py
         (without a finished study: builds and runs a stand-in of the default study's grid, the same rules and
         jobs (sst2, stsb x finetune, swa, kd x 3 seeds) on the tests' tiny random models, in a few minutes, then
         times the no-op on it; the no-op's cost is the plan and the file checks, not the models)
Prints:  the median seconds of the no-op (goal < 3 s), the jobs it would run (goal 0), and `snakemake --version`
         beside it (Snakemake's own start-up).
Writes:  benchmarks/results/planner_noop.json
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import yaml

from _timing import REPO, environment, interleaved, run_child, stub_scontrol_env, summary, write_result

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def stand_in_study(folder: Path) -> tuple[Path, Path]:
    """A finished study with the default study's grid on tiny models: (working directory, config file)."""
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_study import build_mirror, tiny_config

    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    mirror = build_mirror(folder / "mirror")
    config = tiny_config(mirror, tasks=default["tasks"], methods=default["methods"], seeds=default["seeds"])
    workdir = folder / "study"
    workdir.mkdir(parents=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    print(f"running the stand-in study in {workdir} (a few minutes) ...")
    _, _, result = run_child([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
                              "--configfile", str(configfile), "--cores", "all"], cwd=workdir)
    if result.returncode != 0:
        raise SystemExit(f"the stand-in study failed:\n{result.stderr[-3000:]}")
    return workdir, configfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study-dir", default=None, help="working directory of a finished study")
    parser.add_argument("--configfile", default=None, help="its config (with --study-dir)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (figures are medians)")
    parser.add_argument("--stub-scontrol", action="store_true",
                        help="put an `scontrol` that fails at once first on PATH: where the Slurm client is installed "
                             "but no controller answers, the SLURM executor plugin otherwise waits up to 10 s at "
                             "every Snakemake start (what a machine without Slurm does not pay)")
    parser.add_argument("--scratch", default=None, help="folder for the stand-in study (default: temporary)")
    args = parser.parse_args()

    if args.study_dir:
        workdir = Path(args.study_dir).resolve()
        configfile = Path(args.configfile or workdir / "config" / "config.yaml").resolve()
        kind = "finished study"
    else:
        workdir, configfile = stand_in_study(Path(args.scratch or tempfile.mkdtemp(prefix="bench-noop-")))
        kind = "stand-in of the default study's grid on tiny models"
    commands = {
        "noop": [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
                 "--configfile", str(configfile), "--cores", "all"],
        "snakemake_startup": [SNAKEMAKE, "--version"],
    }
    env = stub_scontrol_env(Path(tempfile.mkdtemp(prefix="bench-stub-"))) if args.stub_scontrol else None
    _, _, planned = run_child([*commands["noop"], "-n"], cwd=workdir, env=env)  # never start a study by accident
    if planned.returncode != 0 or "Nothing to be done" not in planned.stdout + planned.stderr:
        raise SystemExit(f"{workdir} is not a finished study of {configfile}; `snakemake -n` there says:\n"
                         f"{(planned.stdout + planned.stderr)[-2000:]}")
    outputs: dict[str, str] = {}

    def case(name: str):
        def run() -> float:
            seconds, _, result = run_child(commands[name], cwd=workdir, env=env)
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(commands[name])} failed:\n{result.stderr[-2000:]}")
            outputs[name] = result.stdout + result.stderr
            return seconds

        return run

    samples = interleaved({name: case(name) for name in commands}, args.repeats, warmup=True)
    nothing = "Nothing to be done" in outputs["noop"]
    ran = re.search(r"^total\s+(\d+)\s*$", outputs["noop"], re.MULTILINE)
    jobs = 0 if nothing else (int(ran.group(1)) if ran else None)
    median = summary(samples["noop"])["median"]
    result = {
        "figure": "no-op snakemake --cores all on a finished study, seconds", "goal": "< 3 s, 0 jobs",
        "value": median, "jobs": jobs, "study": kind, "study_dir": str(workdir),
        "seconds": {name: summary(values) for name, values in samples.items()},
        "settings": {"repeats": args.repeats, "configfile": str(configfile), "stub_scontrol": args.stub_scontrol},
        "environment": environment(),
    }
    path = write_result("planner_noop", result)
    print(f"no-op on the {kind}: {median:.2f} s, {jobs} jobs (goal < 3 s, 0 jobs)")
    print(f"snakemake --version: {summary(samples['snakemake_startup'])['median']:.2f} s")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
