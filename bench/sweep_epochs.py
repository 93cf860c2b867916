"""`fashionlab sweep epochs=25,100,150` against three separate `fashionlab train` runs, in one run.

    python bench/sweep_epochs.py [--epochs 25,100,150] [overrides ...]

The sweep trains once to 150 epochs and takes the 25- and 100-epoch trials from that training;
separate runs train 25 + 100 + 150 = 275 epochs. Prints both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], runs: str) -> float:
    env = {**os.environ, "FASHIONLAB_RUNS": runs, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", default="25,100,150")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    epochs = [int(e) for e in args.epochs.split(",")]
    fl = [sys.executable, "-m", "fashionlab"]
    with tempfile.TemporaryDirectory() as tmp:
        sweep = timed([*fl, "sweep", f"epochs={args.epochs}", *args.overrides], f"{tmp}/sweep")
        print(f"sweep epochs={args.epochs}: {sweep:.1f} s", file=sys.stderr)
        separate = 0.0
        for e in epochs:
            t = timed([*fl, "train", f"epochs={e}", *args.overrides], f"{tmp}/train")
            print(f"train epochs={e}: {t:.1f} s", file=sys.stderr)
            separate += t
    print(
        f"sweep epochs={args.epochs}: {sweep:.1f} s; {len(epochs)} separate trains: {separate:.1f} s; "
        f"ratio {sweep / separate:.2f} (epochs trained: {max(epochs)} vs {sum(epochs)}, "
        f"{max(epochs) / sum(epochs):.2f})"
    )


if __name__ == "__main__":
    main()
