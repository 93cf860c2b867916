"""Every backend the config allows works for every command (issue 31): a small sweep, predict, evaluate
and export on TensorFlow as well as JAX (the rest of the suite trains on JAX)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tensorflow")

TINY = ["train_samples=300", "test_samples=100", "epochs=1", "batch_size=32"]


def fashionlab(runs: Path, *args: str) -> Any:
    """The command in a fresh process (Keras holds one backend per process; this one's is JAX)."""
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs), "KERAS_BACKEND": "tensorflow"}
    return subprocess.run(
        [sys.executable, "-m", "fashionlab", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_a_sweep_predict_evaluate_and_export_on_tensorflow(tmp_path: Path) -> None:
    """'tutorial-optimizer=adam' (a trial's name) and name=my=run once failed every trial on TensorFlow:
    not a valid root scope name. The run keeps its name in its id; the model's scope is made valid."""
    runs = tmp_path / "runs"
    result = fashionlab(runs, "sweep", "optimizer=adam,sgd", "backend=tensorflow", "name=my=run", *TINY, "--json")
    assert result.returncode == 0, result.stderr
    trials = json.loads(result.stdout)["trials"]
    assert [t["status"] for t in trials] == ["completed", "completed"]
    run = trials[0]["run_id"]
    assert "my=run" in run
    predicted = fashionlab(runs, "predict", run, "--index", "0", "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert (
        json.loads(predicted.stdout)["predicted_name"]
        in json.loads(fashionlab(runs, "data", "--json").stdout)["class_names"]
    )
    evaluated = fashionlab(runs, "evaluate", run, "--json")
    assert evaluated.returncode == 0 and 0 <= json.loads(evaluated.stdout)["accuracy"] <= 1
    exported = fashionlab(runs, "export", run, "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "m.onnx").stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # exported whole, no temp left
