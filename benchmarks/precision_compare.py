"""fp32 against bf16 training: the scores (mean, seed spread, paired difference) and the speed, from a finished study.

Run:     .venv/bin/snakemake --cores all --configfile config/precision-study.yaml      (the study, once)
         .venv/bin/python benchmarks/precision_compare.py
         (reads results/precision-study; --results-dir and --suffix for another study whose variants `<m><suffix>`
         are bf16 twins of methods `<m>`)
Prints:  per task and method the dev score x100 in fp32 and in bf16 (mean ± sample std over seeds), the mean paired
         difference (bf16 - fp32, same seed) with its range, whether it stays within the fp32 seed spread, and the
         median training seconds of both with the speed-up; then one verdict line.
Writes:  benchmarks/results/precision_compare.json

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
    """{(task, method): {seed: {"score", "train_seconds"}}} from every run's metrics.json."""
    runs: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    for path in sorted(results_dir.glob("runs/*/*/seed*/metrics.json")):
        record = json.loads(path.read_text())
        runs[(record["task"], record["method"])][int(record["seed"])] = {
            "score": record["validation"][record["main_metric"]] * 100,
            "train_seconds": record.get("compute", {}).get("train_seconds"),
        }
    return runs


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", default=str(REPO / "results" / "precision-study"), help="a finished study")
    parser.add_argument("--suffix", default="_bf16", help="name suffix of the bf16 twin of each method")
    args = parser.parse_args()

    runs = load_runs(Path(args.results_dir))
    if not runs:
        raise SystemExit(f"{args.results_dir}: no runs/*/*/seed*/metrics.json; run the precision study first")
    rows = []
    for (task, method), fp32 in sorted(runs.items()):
        bf16 = runs.get((task, method + args.suffix))
        if method.endswith(args.suffix) or bf16 is None:
            continue
        seeds = sorted(set(fp32) & set(bf16))
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
    if not rows:
        raise SystemExit(f"{args.results_dir}: no method has a '{args.suffix}' twin with common seeds")
    holds = all(row["within_seed_spread"] for row in rows)
    result = {"figure": "bf16 scores against fp32 (paired by seed), and bf16 speed-up",
              "goal": "every |mean paired difference| <= fp32 seed std", "value": holds,
              "median_speedup": statistics.median(row["speedup"] for row in rows), "rows": rows,
              "results_dir": args.results_dir}
    path = write_result("precision_compare", result)
    print(f"{'task':<8}{'method':<10}{'fp32':>14}{'bf16':>14}{'bf16-fp32':>11}{'range':>16}{'held':>6}"
          f"{'fp32 s':>8}{'bf16 s':>8}{'speed-up':>9}")
    for r in rows:
        print(f"{r['task']:<8}{r['method']:<10}{r['fp32_mean']:>8.1f} ± {r['fp32_std']:<4.1f}"
              f"{r['bf16_mean']:>8.1f} ± {r['bf16_std']:<4.1f}{r['paired_difference_mean']:>+11.2f}"
              f"{r['paired_difference_min']:>+8.2f}..{r['paired_difference_max']:<+6.2f}"
              f"{'yes' if r['within_seed_spread'] else 'NO':>6}{r['fp32_train_seconds']:>8.0f}"
              f"{r['bf16_train_seconds']:>8.0f}{r['speedup']:>9.2f}")
    print(f"scores {'hold' if holds else 'do NOT hold'} within the fp32 seed spread for every task and method; "
          f"median speed-up {result['median_speedup']:.2f}x (jobs ran two at a time)")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
