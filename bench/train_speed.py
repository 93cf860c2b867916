"""Seconds per epoch of the tutorial model, side by side in one run, interleaved and repeated.

    python bench/train_speed.py [--epochs 5] [--repeats 2] [--batch 32]

(a) the plain Keras tutorial script (TensorFlow backend, model.fit, as students write it);
(b) `fashionlab train` with the same model and data (validation_split=0, all 60,000 images) on each
    installed Keras backend, with and without fashionlab's fused JAX loop;
(c) a hand-fused JAX loop (bench/fused_jax.py): one compiled scan per epoch, the practical limit;
(d) with --baseline DIR, `fashionlab train` from another checkout (e.g. `git worktree add /tmp/old HEAD~1`),
    so a refactoring can show that the default loop's speed did not change.
Each prints its seconds per epoch; the first epoch (compilation) is left out of the median. Test
accuracy is printed beside each, so a speed-up never hides a quality loss.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CWD = "__cwd__"  # a candidate's env entry naming the directory it runs in (a baseline checkout)


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def candidates(epochs: int, batch: int, baseline: str | None) -> list[tuple[str, list[str], dict[str, str]]]:
    common = ["validation_split=0", f"epochs={epochs}", f"batch_size={batch}"]
    fl = [PY, "-m", "fashionlab", "train", "--json", *common]
    out = []
    plain_backend = "tensorflow" if installed("tensorflow") else "jax"
    out.append(
        (
            f"plain Keras script ({plain_backend})",
            [PY, str(ROOT / "bench/plain_keras.py"), f"--epochs={epochs}", f"--batch={batch}"],
            {"KERAS_BACKEND": plain_backend},
        )
    )
    out.append(("fashionlab, jax, fused loop (default)", [*fl, "backend=jax"], {}))
    if baseline:
        out.append((f"fashionlab at {baseline}, jax, fused loop", [*fl, "backend=jax"], {CWD: baseline}))
    out.append(("fashionlab, jax, keras.fit", [*fl, "backend=jax", "fused_loop=false"], {}))
    if installed("tensorflow"):
        out.append(("fashionlab, tensorflow, keras.fit", [*fl, "backend=tensorflow"], {}))
    if installed("torch"):
        out.append(("fashionlab, torch, keras.fit", [*fl, "backend=torch"], {}))
    out.append(
        (
            "hand-fused JAX loop (limit)",
            [PY, str(ROOT / "bench/fused_jax.py"), f"--epochs={epochs}", f"--batch={batch}"],
            {},
        )
    )
    return out


def run_one(cmd: list[str], extra_env: dict[str, str], runs_dir: str) -> tuple[list[float], float]:
    env = {**os.environ, "FASHIONLAB_RUNS": runs_dir, "TF_CPP_MIN_LOG_LEVEL": "3", **extra_env}
    cwd = env.pop(CWD, None)  # `python -m fashionlab` imports the package found in its working directory
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout)
    if "seconds" in data:
        return data["seconds"], data["test_accuracy"]
    run = Path(runs_dir) / data["run"]
    import csv

    with open(run / "history.csv") as fh:
        seconds = [float(row["seconds"]) for row in csv.DictReader(fh)]
    return seconds, data["test"]["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--baseline", help="also time `fashionlab train` from this checkout of the project")
    parser.add_argument("--only-fashionlab", action="store_true", help="leave out the plain script and the limit")
    args = parser.parse_args()
    cands = candidates(args.epochs, args.batch, args.baseline)
    if args.only_fashionlab:
        cands = [c for c in cands if c[0].startswith("fashionlab") and "fused" in c[0]]
    per_epoch: dict[str, list[float]] = {name: [] for name, _, _ in cands}
    accuracy: dict[str, list[float]] = {name: [] for name, _, _ in cands}
    with tempfile.TemporaryDirectory() as runs_dir:
        for r in range(args.repeats):
            for name, cmd, env in cands:  # interleaved: every candidate once per round
                seconds, acc = run_one(cmd, env, runs_dir)
                per_epoch[name].extend(seconds[1:])
                accuracy[name].append(acc)
                print(
                    f"round {r + 1}: {name}: {statistics.median(seconds[1:]):.3f} s/epoch, test acc {acc:.4f}",
                    file=sys.stderr,
                )
    plain = statistics.median(per_epoch[cands[0][0]])  # with --only-fashionlab: the current checkout
    limit = statistics.median(per_epoch[cands[-1][0]])
    print(
        f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores; tutorial model, batch {args.batch}, "
        f"{args.epochs} epochs x {args.repeats} rounds; median s/epoch after the first"
    )
    print(f"| {'what':40} | s/epoch | vs plain | vs fused limit | test acc |")
    print(f"|{'-' * 42}|---------|----------|----------------|----------|")
    for name, _, _ in cands:
        s = statistics.median(per_epoch[name])
        print(
            f"| {name:40} | {s:7.3f} | {s / plain:7.2f}x | {s / limit:13.2f}x | {statistics.mean(accuracy[name]):.4f} |"
        )


if __name__ == "__main__":
    main()
