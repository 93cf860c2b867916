"""Populations against trials one after another and in parallel processes, whole processes side by side.

    python bench/population.py                        # the issue's sweep: 8 learning rates x 4 seeds, 10 epochs
    python bench/population.py --lrs 4 --repeats 2 --epochs 3 --train-samples 6000   # a CPU-sized one

Runs, in one loop: one trial alone; the sweep with --population off --jobs 1 (one trial after another);
with --population off --jobs 4 (processes); with --population on (one program). Prints each wall time,
the throughput against one-after-another, and the population's wall against one trial's. The goal on a
GPU (issue 16): the population's wall at most 3x one trial's, at least 10x one-after-another and 5x
--jobs 4. On a CPU `--population auto` is off, so it cannot be slower than the default.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(args: list[str], runs: Path, cache: Path) -> float:
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs), "FASHIONLAB_CACHE": str(cache), "KERAS_BACKEND": "jax"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fashionlab", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lrs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-samples", type=int, default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fl-pop-"))
    data = [f"epochs={args.epochs}"] + ([f"train_samples={args.train_samples}"] if args.train_samples else [])
    sweep = ["sweep", f"lr=logspace(-4,-2,{args.lrs})", "--repeats", str(args.repeats), *data]
    trials = args.lrs * args.repeats
    try:
        wall(["train", "epochs=1", *data[1:]], tmp / "warm", tmp / "cache")  # the compilation cache, warm
        rows = {
            "one trial": wall(["train", *data], tmp / "one", tmp / "cache"),
            f"{trials} trials, --population off --jobs 1": wall(
                [*sweep, "--population", "off", "--jobs", "1"], tmp / "serial", tmp / "cache"
            ),
            f"{trials} trials, --population off --jobs 4": wall(
                [*sweep, "--population", "off", "--jobs", "4"], tmp / "jobs", tmp / "cache"
            ),
            f"{trials} trials, --population on": wall([*sweep, "--population", "on"], tmp / "pop", tmp / "cache"),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    serial = rows[f"{trials} trials, --population off --jobs 1"]
    print(f"| job ({' '.join(sweep[1:])}) | wall (s) | throughput vs one after another |")
    print("|---|---|---|")
    for label, seconds in rows.items():
        ratio = "" if label == "one trial" else f"{serial / seconds:.2f}x"
        print(f"| {label} | {seconds:.1f} | {ratio} |")
    population = rows[f"{trials} trials, --population on"]
    print(f"\npopulation wall / one trial's: {population / rows['one trial']:.2f}x (goal on a GPU: at most 3x)")
    print(f"population vs --jobs 4: {rows[f'{trials} trials, --population off --jobs 4'] / population:.2f}x (goal: 5x)")


if __name__ == "__main__":
    main()
