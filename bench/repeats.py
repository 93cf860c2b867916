"""`fashionlab sweep optimizer=adam,sgd --repeats 3` against the same six trainings run by hand, in one run.

    python bench/repeats.py [--seeds 3] [overrides ...]

By hand: `fashionlab train optimizer=X seed=S` six times, one after another, as a student would type them.
The sweep runs the same six configs (seeds 42, 43, 44) with its default --jobs. Prints both wall times,
their ratio, and checks that both give the same test accuracies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], runs: str) -> tuple[float, str]:
    env = {**os.environ, "FASHIONLAB_RUNS": runs, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    fl = [sys.executable, "-m", "fashionlab"]
    with tempfile.TemporaryDirectory() as tmp:
        items = ["optimizer=adam,sgd", *args.overrides]
        sweep, _ = timed([*fl, "sweep", *items, "--repeats", str(args.seeds)], f"{tmp}/sweep")
        _, table = timed([*fl, "compare", "--format", "json", "--per-seed"], f"{tmp}/sweep")
        swept = sorted(round(r["test_accuracy"], 6) for r in json.loads(table))
        print(f"sweep --repeats {args.seeds}: {sweep:.1f} s", file=sys.stderr)
        by_hand, accuracies = 0.0, []
        for optimizer in ("adam", "sgd"):
            for seed in range(42, 42 + args.seeds):
                cmd = [*fl, "train", f"optimizer={optimizer}", f"seed={seed}", *args.overrides, "--json"]
                t, out = timed(cmd, f"{tmp}/hand")
                accuracies.append(round(json.loads(out)["test"]["accuracy"], 6))
                by_hand += t
                print(f"train optimizer={optimizer} seed={seed}: {t:.1f} s", file=sys.stderr)
    same = "the same" if sorted(accuracies) == swept else "DIFFERENT"
    print(
        f"sweep optimizer=adam,sgd --repeats {args.seeds}: {sweep:.1f} s; {2 * args.seeds} trains by hand: "
        f"{by_hand:.1f} s; ratio {sweep / by_hand:.2f}; test accuracies {same}"
    )


if __name__ == "__main__":
    main()
