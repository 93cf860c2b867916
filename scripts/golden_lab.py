"""Train the small lab the golden tables are drawn from and store its run files in tests/data/lab.

    python scripts/golden_lab.py            # train it again (about a minute), replacing tests/data/lab
    FASHIONLAB_UPDATE_GOLDEN=1 pytest tests/test_golden.py   # then write tests/golden/*.txt from it

A sweep (2 optimizers x 2 epoch counts), a sweep of 2 optimizers x 2 seeds (its table has a row per
setting), a 3-trial search and the tiny / tiny-deeper pair, on small slices
of the real data. Only the tiny run keeps its model (predict needs one; the others' tables read run.json,
metrics.json, history.csv and images.npz), so the folder stays small. Run it again when the run files'
format changes, and look at the new golden files before committing them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "tests" / "data" / "lab"
SLICE = ["train_samples=300", "test_samples=100", "batch_size=64"]
COMMANDS = [
    ["sweep", "optimizer=adam,sgd", "epochs=1,2", *SLICE],
    ["sweep", "optimizer=adam,rmsprop", "--repeats", "2", "epochs=1", *SLICE],
    ["search", "lr=loguniform(1e-4,1e-1)", "--trials", "3", "epochs=1", *SLICE],
    ["train", "--config", "tiny", "epochs=2", *SLICE],
    ["train", "--config", "tiny-deeper", "epochs=2", *SLICE],
]


def main() -> int:
    if LAB.exists():
        shutil.rmtree(LAB)
    env = {**os.environ, "FASHIONLAB_RUNS": str(LAB), "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for command in COMMANDS:
        subprocess.run([sys.executable, "-m", "fashionlab", *command], env=env, check=True, cwd=ROOT)
    for run in LAB.iterdir():
        if run.is_dir() and not ("-tiny-" in run.name and "deeper" not in run.name):
            for model in (*run.glob("*.keras"), *run.glob("*.weights.npz")):
                model.unlink()
        for picture in run.glob("*.png"):
            picture.unlink()
        for stale in (*run.glob("*.lock"), *run.glob(".*")):
            if stale.is_file():
                stale.unlink()
    print(f"stored {sum(p.stat().st_size for p in LAB.rglob('*') if p.is_file()) / 1e6:.1f} MB in {LAB}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
