"""Scaling out, measured: the local executor against Ray on this machine, and what pruning saves.

    python bench/scaling.py [--trials 12] [--search-trials 30]

1. The same 12-trial sweep with `--jobs 2` (local processes) and with `--executor ray` (a local Ray
   instance, 1 CPU per trial): wall time of each and Ray's overhead per trial.
2. The same 30-trial search (TPE, same seed) with `--prune median` and without pruning: epochs
   trained in all, and the best val_accuracy each found.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = ["train_samples=10000", "test_samples=1000"]


def timed(args: list[str], runs: Path) -> tuple[float, str]:
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "fashionlab", *args], env=env, capture_output=True, text=True, timeout=7200
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return time.perf_counter() - start, done.stdout


def epochs_trained(runs: Path) -> int:
    total = 0
    for history in runs.glob("*/history.csv"):
        with open(history) as fh:
            total += sum(1 for _ in csv.DictReader(fh))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--search-trials", type=int, default=30)
    args = parser.parse_args()
    lrs = ",".join(f"{0.0005 * (i + 1):g}" for i in range(args.trials // 2))
    sweep = ["sweep", f"lr={lrs}", "batch_size=32,64", "epochs=3", *DATA]
    with tempfile.TemporaryDirectory() as tmp:
        local, _ = timed([*sweep, "--jobs", "2"], Path(tmp) / "local")
        ray, _ = timed([*sweep, "--executor", "ray", "--cpus-per-trial", "1"], Path(tmp) / "ray")
        print(
            f"{args.trials}-trial sweep: local --jobs 2 {local:.1f} s, --executor ray {ray:.1f} s, "
            f"Ray overhead {(ray - local) / args.trials:+.2f} s per trial"
        )
        search = [
            "search",
            "lr=loguniform(1e-5,1)",
            "layers.1.units=int(16,256)",
            "optimizer=choice(adam,sgd)",
            "epochs=5",
            *DATA,
            "--trials",
            str(args.search_trials),
            "--json",
        ]
        results = {}
        for prune in ("none", "median"):
            runs = Path(tmp) / f"search-{prune}"
            wall, out = timed([*search, "--prune", prune], runs)
            data = json.loads(out)
            statuses = [t["status"] for t in data["trials"]]
            results[prune] = {
                "wall_s": round(wall, 1),
                "epochs": epochs_trained(runs),
                "pruned": statuses.count("pruned"),
                "best": data["best"]["value"] if data["best"] else None,
            }
        print(f"{args.search_trials}-trial search, 5 epochs each: " + json.dumps(results))
        saved = 1 - results["median"]["epochs"] / results["none"]["epochs"]
        print(
            f"median pruning: {results['median']['pruned']} trials pruned, {saved:.0%} fewer epochs, "
            f"best val_accuracy {results['median']['best']:.4f} vs {results['none']['best']:.4f} without pruning"
        )


if __name__ == "__main__":
    main()
