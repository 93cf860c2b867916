"""Do parallel trials pay? The same sweep with --jobs 1 and --jobs N, side by side.

    python bench/concurrency.py [--jobs 2] [--trials 4] [--epochs 3]

Prints the wall time of each, the trials per minute, and each trial's median seconds per epoch
(after the first) while running alone and while running N at once: the throughput ratio is
N x (alone s/epoch) / (concurrent s/epoch).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep(runs: Path, jobs: int, trials: int, epochs: int, extra: list[str]) -> tuple[float, list[float]]:
    lrs = ",".join(f"{0.001 * (i + 1):g}" for i in range(trials))
    cmd = [sys.executable, "-m", "fashionlab", "sweep", f"lr={lrs}", f"epochs={epochs}", "--jobs", str(jobs), *extra]
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    per_epoch = []
    for run in runs.iterdir():
        if (run / "history.csv").is_file():
            with open(run / "history.csv") as fh:
                per_epoch.extend(float(r["seconds"]) for r in list(csv.DictReader(fh))[1:])
    return wall, per_epoch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="more overrides, e.g. train_samples=20000")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, args.jobs):
            wall, per_epoch = sweep(Path(tmp) / f"j{jobs}", jobs, args.trials, args.epochs, args.extra)
            results[jobs] = {"wall_s": round(wall, 2), "s_per_epoch": round(statistics.median(per_epoch), 4)}
            print(
                f"--jobs {jobs}: {wall:.1f} s wall, {args.trials / wall * 60:.2f} trials/min, "
                f"{statistics.median(per_epoch):.3f} s/epoch per trial",
                file=sys.stderr,
            )
    one, many = results[1], results[args.jobs]
    print(
        json.dumps(
            {
                "trials": args.trials,
                "epochs": args.epochs,
                "jobs": args.jobs,
                "results": results,
                "wall_speedup": round(one["wall_s"] / many["wall_s"], 2),
                "throughput_ratio_per_epoch": round(args.jobs * one["s_per_epoch"] / many["s_per_epoch"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
