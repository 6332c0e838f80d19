"""fp32 against bf16 training (or any setting against another): the scores (mean, seed spread, paired difference)
and the speed, from finished studies.

Run:     make study; .venv/bin/snakemake --cores all --configfile config/precision-study.yaml   (once)
         .venv/bin/python benchmarks/precision_compare.py --results-dir results --reference-dir results/precision-study \
             --suffix ""
         (the default study's runs, bf16 where the CPU has it, against their fp32 twins in results/precision-study;
         one study that trains both settings as variants `<m>` and `<m><suffix>` needs --results-dir alone)
Two studies: the same methods and seeds under two settings, each in its own study (a setting the teacher shares,
such as the teacher's batching, cannot be a variant of one study):
         .venv/bin/python benchmarks/precision_compare.py --reference-dir results --results-dir results/batching-study \
             --suffix "" --names grouped shuffled --output batching_compare
Prints:  per task and method the dev score x100 in fp32 and in bf16 (mean ± sample std over seeds), the mean paired
         difference (bf16 - fp32, same seed) with its range, whether it stays within the fp32 seed spread, and the
         median training seconds of both with the speed-up; then one verdict line. Two studies add their teachers.
Writes:  benchmarks/results/precision_compare.json (--output another name)

The verdict "scores hold" needs, for every task and method, |mean paired difference| <= the fp32 runs' std over
seeds: the bar the issue sets for making bf16 the offline studies' default. The speed-up here comes from jobs that
ran two at a time; benchmarks/throughput.py measures it side by side.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from _timing import REPO, write_result


def load_runs(results_dir: Path) -> dict[tuple[str, str], dict[int, dict]]:
    """{(task, method): {seed: {"score", "train_seconds"}}} from every run's metrics.json and train_info.json."""
    runs: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    for path in sorted(results_dir.glob("runs/*/*/seed*/metrics.json")):
        record = json.loads(path.read_text())
        info = json.loads((path.parent / "train_info.json").read_text())
        runs[(record["task"], record["method"])][int(record["seed"])] = {
            "score": record["validation"][record["main_metric"]] * 100,
            "train_seconds": info["compute"]["train_seconds"],
        }
    return runs


def teacher_scores(results_dir: Path) -> dict[str, float]:
    """{task: the teacher's dev score x100} of a finished study."""
    scores = {}
    for path in sorted(results_dir.glob("teacher/*/metrics.json")):
        record = json.loads(path.read_text())
        scores[path.parent.name] = record["validation"][record["main_metric"]] * 100
    return scores


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def paired_rows(reference_runs: dict, twin_runs: dict, suffix: str) -> list[dict]:
    """One row per (task, method) with a twin `<method><suffix>` on common seeds: both settings' mean and spread,
    the paired differences (twin - reference, same seed), whether their mean stays within the reference's seed
    spread, and the median training seconds of each."""
    rows = []
    for (task, method), fp32 in sorted(reference_runs.items()):
        bf16 = twin_runs.get((task, method + suffix))
        if (suffix and method.endswith(suffix)) or bf16 is None:
            continue
        seeds = sorted(set(fp32) & set(bf16))
        if not seeds:
            continue
        a, b = [fp32[s]["score"] for s in seeds], [bf16[s]["score"] for s in seeds]
        differences = [y - x for x, y in zip(a, b)]
        seconds_a = statistics.median(fp32[s]["train_seconds"] for s in seeds)
        seconds_b = statistics.median(bf16[s]["train_seconds"] for s in seeds)
        rows.append({
            "task": task, "method": method, "seeds": seeds,
            "fp32_mean": statistics.mean(a), "fp32_std": spread(a), "bf16_mean": statistics.mean(b),
            "bf16_std": spread(b), "paired_difference_mean": statistics.mean(differences),
            "paired_difference_min": min(differences), "paired_difference_max": max(differences),
            "within_seed_spread": abs(statistics.mean(differences)) <= spread(a),
            "fp32_train_seconds": seconds_a, "bf16_train_seconds": seconds_b, "speedup": seconds_a / seconds_b,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", default=str(REPO / "results" / "precision-study"), help="a finished study")
    parser.add_argument("--suffix", default="_bf16", help="name suffix of the bf16 twin of each method")
    parser.add_argument("--reference-dir", default=None,
                        help="a finished study holding the methods `<m>` (default: --results-dir itself)")
    parser.add_argument("--names", nargs=2, default=["fp32", "bf16"], metavar=("REFERENCE", "TWIN"),
                        help="what the two settings are called in the printout")
    parser.add_argument("--output", default="precision_compare", help="benchmarks/results/<output>.json")
    args = parser.parse_args()

    runs = load_runs(Path(args.results_dir))
    reference_runs = load_runs(Path(args.reference_dir)) if args.reference_dir else runs
    for folder, found in ((args.results_dir, runs), (args.reference_dir, reference_runs)):
        if folder and not found:
            raise SystemExit(f"{folder}: no runs/*/*/seed*/metrics.json; run that study first")
    rows = paired_rows(reference_runs, runs, args.suffix)
    if not rows:
        raise SystemExit(f"{args.results_dir}: no method has a '{args.suffix}' twin with common seeds")
    holds = all(row["within_seed_spread"] for row in rows)
    first, second = args.names
    teachers = ({"reference": teacher_scores(Path(args.reference_dir)), "twin": teacher_scores(Path(args.results_dir))}
                if args.reference_dir else None)
    result = {"figure": f"{second} scores against {first} (paired by seed; keys fp32 = {first}, bf16 = {second}), "
                        f"and {second}'s speed-up",
              "goal": f"every |mean paired difference| <= {first} seed std", "value": holds,
              "median_speedup": statistics.median(row["speedup"] for row in rows), "rows": rows,
              "results_dir": args.results_dir, "reference_dir": args.reference_dir or args.results_dir,
              "teachers": teachers}
    path = write_result(args.output, result)
    print(f"{'task':<8}{'method':<10}{first:>14}{second:>14}{second[:4] + '-' + first[:4]:>11}{'range':>16}{'held':>6}"
          f"{first[:5] + ' s':>9}{second[:5] + ' s':>9}{'speed-up':>9}")
    for r in rows:
        print(f"{r['task']:<8}{r['method']:<10}{r['fp32_mean']:>8.1f} ± {r['fp32_std']:<4.1f}"
              f"{r['bf16_mean']:>8.1f} ± {r['bf16_std']:<4.1f}{r['paired_difference_mean']:>+11.2f}"
              f"{r['paired_difference_min']:>+8.2f}..{r['paired_difference_max']:<+6.2f}"
              f"{'yes' if r['within_seed_spread'] else 'NO':>6}{r['fp32_train_seconds']:>9.0f}"
              f"{r['bf16_train_seconds']:>9.0f}{r['speedup']:>9.2f}")
    if teachers:
        for task in sorted(teachers["reference"]):
            print(f"teacher {task}: {first} {teachers['reference'][task]:.1f}, "
                  f"{second} {teachers['twin'].get(task, float('nan')):.1f}")
    print(f"scores {'hold' if holds else 'do NOT hold'} within the {first} seed spread for every task and method; "
          f"median speed-up {result['median_speedup']:.2f}x (jobs ran two at a time)")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
