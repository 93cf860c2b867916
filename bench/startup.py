"""Start-up and small-command latency, measured with a command-timing loop (best and median of N).

    python bench/startup.py [--n 10] [--runs 1000]

`--help`, `runs` and `compare` over a runs directory of 1,000 runs (copies of one real run with
different learning rates), and `predict --index 10` end to end against a plain Keras script that
loads the same model.keras and predicts the same image.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN_PREDICT = """
import sys, numpy as np, keras
from fashionlab.data import load_data
(_, _), (x_test, y_test) = load_data()
model = keras.saving.load_model(sys.argv[1])
p = keras.ops.softmax(model.predict(x_test[10:11] / 255.0, verbose=0))
print(int(np.argmax(p)))
"""


def timings(cmd: list[str], env: dict[str, str], n: int) -> tuple[float, float]:
    seconds = []
    for _ in range(n):
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}:\n{done.stderr[-2000:]}")
    return min(seconds), statistics.median(seconds)


def make_runs(runs: Path, n: int, env: dict[str, str]) -> Path:
    fl = [sys.executable, "-m", "fashionlab"]
    subprocess.run(
        [*fl, "train", "train_samples=500", "test_samples=100", "epochs=1"], env=env, check=True, capture_output=True
    )
    (source,) = [p for p in runs.iterdir() if p.is_dir()]
    info = json.loads((source / "run.json").read_text())
    for i in range(n):
        target = runs / f"{source.name[:15]}-bench-{i:05d}"
        target.mkdir()
        for name in ("config.yaml", "history.csv", "metrics.json"):
            shutil.copy(source / name, target / name)
        config = {**info["config"], "optimizer": {"name": "adam", "learning_rate": 0.001 * (1 + i)}}
        (target / "run.json").write_text(json.dumps({**info, "id": target.name, "config": config}))
    return source


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    fl = [sys.executable, "-m", "fashionlab"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FASHIONLAB_RUNS": tmp, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
        source = make_runs(Path(tmp), args.runs, env)
        rows = [
            ("fashionlab --help", [*fl, "--help"]),
            (f"fashionlab runs ({args.runs + 1} runs)", [*fl, "runs"]),
            (f"fashionlab compare ({args.runs + 1} runs)", [*fl, "compare"]),
            (f"fashionlab compare --format csv ({args.runs + 1} runs)", [*fl, "compare", "--format", "csv"]),
            ("fashionlab predict --index 10", [*fl, "predict", "--run", source.name, "--index", "10"]),
            (
                "plain Keras: load model.keras, predict image 10",
                [sys.executable, "-c", PLAIN_PREDICT, str(source / "model.keras")],
            ),
        ]
        print(f"| command | best (s) | median (s) of {args.n} |")
        print("|---|---|---|")
        for label, cmd in rows:
            best, median = timings(cmd, {**env, "KERAS_BACKEND": "jax"}, args.n)
            print(f"| {label} | {best:.3f} | {median:.3f} |")


if __name__ == "__main__":
    main()
