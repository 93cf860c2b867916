"""What `--help` costs against a bare Typer app of the same shape (17 commands, 6 options each), measured
side by side in one run, interleaved so both see the same machine load.

    python bench/help.py [--n 15]

Prints best and median seconds of each command and fashionlab's ratio to the bare app (issue 23 asks for
at most 1.3x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BARE = Path(__file__).with_name("bare_typer17.py")


def once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "100"}
    rows = {
        "bare Typer app (17 commands) --help": [sys.executable, str(BARE), "--help"],
        "bare Typer app: command0 --help": [sys.executable, str(BARE), "command0", "--help"],
        "fashionlab --help": [sys.executable, "-m", "fashionlab", "--help"],
        "fashionlab sweep --help": [sys.executable, "-m", "fashionlab", "sweep", "--help"],
    }
    for cmd in rows.values():  # warm the file cache and the .pyc files
        once(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.n):
        for name, cmd in rows.items():
            times[name].append(once(cmd, env))
    bare = statistics.median(times["bare Typer app (17 commands) --help"])
    bare_cmd = statistics.median(times["bare Typer app: command0 --help"])
    print(f"{'command':42} {'best s':>8} {'median s':>9} {'x bare':>7}")
    for name, seconds in times.items():
        base = bare_cmd if "command0" in name or "sweep" in name else bare
        median = statistics.median(seconds)
        print(f"{name:42} {min(seconds):8.3f} {median:9.3f} {median / base:7.2f}")


if __name__ == "__main__":
    main()
