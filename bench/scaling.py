"""Scaling, measured: the local executor against Ray on this machine, what pruning saves, and reading
many runs.

    python bench/scaling.py [--trials 12] [--search-trials 30]
    python bench/scaling.py --many-runs 5000,20000 [--against 5056a67] [--seeds 1] [--times 5]

1. The same 12-trial sweep with `--jobs 2` (local processes) and with `--executor ray` (a local Ray
   instance, 1 CPU per trial): wall time of each and Ray's overhead per trial.
2. The same 30-trial search (TPE, same seed) with `--prune median` and without pruning: epochs
   trained in all, and the best val_accuracy each found.
3. `--many-runs`: a runs folder of N runs (copies of one real run, each with its own learning rate or
   seed, 5 seeds a setting, and test numbers that differ) read by `runs`, `compare` and `report --format
   json`: wall and CPU time of each whole command and milliseconds a run; with `--against REF` the same commands
   of that commit (a git worktree on PYTHONPATH) side by side, in the same run on the same folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
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


def make_runs(template: Path, folder: Path, n: int, seeds: int = 5) -> None:
    """n runs of `seeds` seeds a setting (the learning rate), copies of `template` with their own id, config,
    seed and test numbers (run.json, config.yaml, metrics.json, history.csv; images.npz where it has one)."""
    import random

    import yaml

    rng = random.Random(0)
    info = json.loads((template / "run.json").read_text())
    config = yaml.safe_load((template / "config.yaml").read_text())
    metrics = json.loads((template / "metrics.json").read_text())
    history = (template / "history.csv").read_text()
    images = (template / "images.npz").read_bytes() if (template / "images.npz").is_file() else None
    folder.mkdir(parents=True)
    for i in range(n):
        lr, seed = round(1e-5 * (1 + i // seeds), 7), i % seeds
        run_hash = f"{rng.getrandbits(32):08x}"
        run_id = f"20261201-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-bench-{run_hash}"
        conf = {**config, "name": "bench", "seed": seed, "optimizer": {"name": "adam", "learning_rate": lr}}
        accuracy = metrics["test"]["accuracy"] + rng.gauss(0, 0.01)
        found = {**metrics, "test": {"loss": metrics["test"]["loss"] + rng.gauss(0, 0.02), "accuracy": accuracy}}
        path = folder / run_id
        path.mkdir()
        (path / "run.json").write_text(json.dumps({**info, "id": run_id, "name": "bench", "config_hash": run_hash,
                                                   "seed": seed, "config": conf, "metrics": found}))  # fmt: skip
        (path / "config.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))
        (path / "metrics.json").write_text(json.dumps(found))
        (path / "history.csv").write_text(history)
        if images is not None:
            (path / "images.npz").write_bytes(images)


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: less moved by a busy machine than wall."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _time_once(command: list[str], folder: Path, source: Path, limit: int) -> tuple[float, float]:
    """Wall and CPU seconds of one whole `fashionlab` process of `source` over `folder` (inf if it fails). It
    runs in `source`: `python -m` puts the working folder before PYTHONPATH, so from this tree's folder the
    other commit's code would never be the one timed."""
    env = {**os.environ, "FASHIONLAB_RUNS": str(folder), "PYTHONPATH": str(source)}
    start, cpu = time.perf_counter(), _children_cpu()
    try:
        done = subprocess.run([sys.executable, "-m", "fashionlab", *command], env=env, capture_output=True,
                              text=True, timeout=limit, cwd=source)  # fmt: skip
    except subprocess.TimeoutExpired:
        return math.inf, math.inf
    if done.returncode != 0:
        return math.inf, math.inf
    return time.perf_counter() - start, _children_cpu() - cpu


def many_runs(counts: list[int], against: str | None, limit: int = 300, seeds: int = 5, times: int = 1) -> None:
    root = Path(__file__).resolve().parent.parent
    commands = {"runs": ["runs"], "compare": ["compare"], "report --format json": ["report", "--format", "json"]}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"this tree": root}
        if against:
            subprocess.run(["git", "worktree", "add", "--detach", f"{tmp}/base", against], cwd=root, check=True,
                           capture_output=True)  # fmt: skip
            sources[against] = Path(tmp) / "base"
        template_runs = Path(tmp) / "template"
        timed(["train", "--config", "tutorial", "epochs=3", "train_samples=1000", "test_samples=500"], template_runs)
        template = next(p for p in template_runs.iterdir() if (p / "run.json").is_file())
        try:
            for n in counts:
                folder = Path(tmp) / f"runs{n}"
                make_runs(template, folder, n, seeds)
                for name, command in commands.items():
                    walls: dict[str, list[float]] = {label: [] for label in sources}
                    cpus: dict[str, list[float]] = {label: [] for label in sources}
                    for _ in range(times):  # the sources in turn, so a change of load falls on both
                        for label, source in sources.items():
                            wall, cpu = _time_once(command, folder, source, limit)
                            walls[label].append(wall)
                            cpus[label].append(cpu)
                    row = []
                    for label in sources:
                        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
                        spread = f" (of {times}: {min(walls[label]):.2f}-{max(walls[label]):.2f})" if times > 1 else ""
                        row.append(f"{label}: {wall:.2f} s wall{spread}, {1000 * wall / n:.3f} ms a run, "
                                   f"{cpu:.2f} s CPU")  # fmt: skip
                    print(f"{n:,} runs ({seeds} seeds a setting), {name}: " + "; ".join(row), flush=True)
        finally:
            if against:
                subprocess.run(["git", "worktree", "remove", "--force", f"{tmp}/base"], cwd=root, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--search-trials", type=int, default=30)
    parser.add_argument("--many-runs", help="comma-separated run counts: time reading that many runs instead")
    parser.add_argument("--against", help="with --many-runs: also time this git commit's fashionlab")
    parser.add_argument("--seeds", type=int, default=5, help="with --many-runs: seeds a setting (1: every run its own)")
    parser.add_argument("--times", type=int, default=1, help="with --many-runs: time each command this often (median)")
    args = parser.parse_args()
    if args.many_runs:
        many_runs([int(n) for n in args.many_runs.split(",")], args.against, seeds=args.seeds, times=args.times)
        return
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
