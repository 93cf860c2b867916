"""Time to result: whole processes of short lab jobs, fashionlab against a plain Keras script doing the same.

    python bench/time_to_result.py [--n 3] [--baseline /path/to/an/older/checkout]

Every command is a fresh process, timed from start to exit (imports and compilation included), the
median of `--n` runs interleaved so a slow moment of the machine hits all of them alike. fashionlab's
compilation cache is warmed once first (the figures are for a warm cache); `--baseline` adds a
column with another checkout's fashionlab (its source put first on PYTHONPATH), measured in the same
loop. Plain scripts run on Keras's JAX backend with the same data, model, split and batch size.

Rows:
- train epochs=1 train_samples=2000 (with test evaluation and saving), against the plain script.
- predict --index 10 and evaluate on a saved run, against load_model + predict / evaluate.
- a sweep of 8 short trials: the fixed cost of each trial after the first, from a sweep of 1 and of 8
  (wall(8) - wall(1) - the epoch seconds of the 7 extra trials) / 7.
- the default 10-epoch `fashionlab train`: its wall time and the share that is not epochs.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN_TRAIN = """
import sys, numpy as np, keras
from fashionlab.data import load_data
(x, y), (xt, yt) = load_data()
x, y = x[:2000] / 255.0, y[:2000]
keras.utils.set_random_seed(42)
model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                          keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit(x, y, epochs=1, batch_size=32, validation_split=0.1, verbose=0)
print(model.evaluate(xt / 255.0, yt, verbose=0))
model.save(sys.argv[1])
"""

PLAIN_PREDICT = """
import sys, numpy as np, keras
from fashionlab.data import load_data
(_, _), (xt, yt) = load_data()
model = keras.saving.load_model(sys.argv[1])
print(int(np.argmax(model.predict(xt[10:11] / 255.0, verbose=0))))
"""

PLAIN_EVALUATE = """
import sys, keras
from fashionlab.data import load_data
(_, _), (xt, yt) = load_data()
model = keras.saving.load_model(sys.argv[1])
print(model.evaluate(xt / 255.0, yt, verbose=0))
"""

SHORT = ["epochs=1", "train_samples=2000"]


def run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())  # not this checkout
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}:\n{done.stderr[-3000:]}")
    return seconds


def epoch_seconds(runs: Path) -> float:
    """The epochs' own seconds (history.csv) of every run in `runs`."""
    total = 0.0
    for history in runs.glob("*/history.csv"):
        with history.open() as fh:
            total += sum(float(row["seconds"]) for row in csv.DictReader(fh))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another fashionlab checkout to measure alongside")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fl-ttr-"))
    base_env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    base_env["FASHIONLAB_CACHE"] = str(tmp / "cache")
    tools = {"fashionlab": dict(base_env)}
    if args.baseline:
        tools["baseline"] = {**base_env, "PYTHONPATH": str(args.baseline.resolve())}
    fl = [sys.executable, "-m", "fashionlab"]
    py = [sys.executable, "-c"]
    try:
        model = tmp / "plain.keras"
        for name, env in tools.items():  # warm the cache; a saved run for predict and evaluate
            run([*fl, "train", *SHORT], {**env, "FASHIONLAB_RUNS": str(tmp / f"saved-{name}")})
        saved = {name: next((tmp / f"saved-{name}").glob("2*")).name for name in tools}
        run([*py, PLAIN_TRAIN, str(model)], base_env)
        jobs: dict[str, list[float]] = {}
        walls: dict[str, list[float]] = {}

        def timed(label: str, cmd: list[str], env: dict[str, str]) -> None:
            jobs.setdefault(label, []).append(run(cmd, env))

        for i in range(args.n):
            for name, env in tools.items():
                runs_env = {**env, "FASHIONLAB_RUNS": str(tmp / f"saved-{name}")}
                timed(f"{name}: train {' '.join(SHORT)}", [*fl, "train", *SHORT], runs_env)
                timed(f"{name}: predict --index 10", [*fl, "predict", saved[name], "--index", "10"], runs_env)
                timed(f"{name}: evaluate", [*fl, "evaluate", saved[name]], runs_env)
                for trials in (1, 8):
                    runs = tmp / f"sweep-{name}-{trials}-{i}"
                    lrs = ",".join(f"{0.001 * (k + 1):g}" for k in range(trials))
                    wall = run(
                        [*fl, "sweep", "--jobs", "1", f"lr={lrs}", *SHORT], {**env, "FASHIONLAB_RUNS": str(runs)}
                    )
                    walls.setdefault(f"{name}-{trials}", []).append(wall)
                    walls.setdefault(f"{name}-{trials}-epochs", []).append(epoch_seconds(runs))
                    shutil.rmtree(runs)
                runs = tmp / f"default-{name}-{i}"
                walls.setdefault(f"{name}-default", []).append(
                    run([*fl, "train"], {**env, "FASHIONLAB_RUNS": str(runs)})
                )
                walls.setdefault(f"{name}-default-epochs", []).append(epoch_seconds(runs))
                shutil.rmtree(runs)
            timed("plain Keras: train, evaluate, save", [*py, PLAIN_TRAIN, str(tmp / "p.keras")], base_env)
            timed("plain Keras: load_model + predict", [*py, PLAIN_PREDICT, str(model)], base_env)
            timed("plain Keras: load_model + evaluate", [*py, PLAIN_EVALUATE, str(model)], base_env)
        med = {label: statistics.median(s) for label, s in jobs.items()}
        print(f"Median of {args.n}, whole processes, warm compilation cache, {os.cpu_count()} cores\n")
        print("| job | seconds | vs plain Keras |")
        print("|---|---|---|")
        plain = {"train": "plain Keras: train, evaluate, save", "predict": "plain Keras: load_model + predict",
                 "evaluate": "plain Keras: load_model + evaluate"}  # fmt: skip
        for label, seconds in med.items():
            kind = next((k for k in plain if f": {k}" in label and not label.startswith("plain")), None)
            ratio = f"{seconds / med[plain[kind]]:.2f}x" if kind else ""
            print(f"| {label} | {seconds:.2f} | {ratio} |")
        m = {k: statistics.median(v) for k, v in walls.items()}
        print("\n| tool | sweep of 1 (s) | sweep of 8 (s) | fixed cost per trial after the first (s) "
              "| default train (s) | of which epochs (s) | fixed share |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for name in tools:
            extra_epochs = m[f"{name}-8-epochs"] - m[f"{name}-1-epochs"]
            per_trial = (m[f"{name}-8"] - m[f"{name}-1"] - extra_epochs) / 7
            wall, epochs = m[f"{name}-default"], m[f"{name}-default-epochs"]
            print(f"| {name} | {m[f'{name}-1']:.2f} | {m[f'{name}-8']:.2f} | {per_trial:.2f} | {wall:.2f} "
                  f"| {epochs:.2f} | {(wall - epochs) / wall:.0%} |")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
