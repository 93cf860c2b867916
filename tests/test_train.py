"""Real Keras training on a small slice of the real data: files, determinism, losses, backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from fashionlab import usecases
from fashionlab.config import load_config
from fashionlab.engine import build as fbuild
from fashionlab.engine.outcomes import Diverged
from fashionlab.metrics import classification_report, summarize_history
from fashionlab.store import RunStore
from tests.conftest import CONFIGS, SMALL


def train_run(config: Any, runs: Path) -> Any:
    """The train use case's TrainResult (what `fashionlab train` shows)."""
    return usecases.train(config, runs).result


def test_run_directory_holds_everything(runs_dir: Path) -> None:
    result = train_run(load_config(None, SMALL), runs_dir)
    files = sorted(p.name for p in result.run.path.iterdir())
    assert files == [
        "best.weights.npz", "config.yaml", "curves.png", "epoch-0001.weights.npz", "history.csv", "images.npz",
        "metrics.json", "model.keras", "run.json",
    ]  # fmt: skip
    info = json.loads((result.run.path / "run.json").read_text())
    assert info["status"] == "completed" and info["backend"] == "jax" and info["device"] == "cpu"
    assert info["seed"] == 42 and info["versions"]["keras"].startswith("3.")
    assert info["started"] <= info["ended"]
    history = (result.run.path / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,accuracy,val_loss,val_accuracy,seconds" and len(history) == 3
    metrics = json.loads((result.run.path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == result.test["accuracy"] > 0.5
    assert metrics["summary"]["epochs"] == 2
    resolved = yaml.safe_load((result.run.path / "config.yaml").read_text())
    assert resolved["train_samples"] == 600 and resolved["layers"][0] == "flatten"
    run_id = result.run.id
    assert run_id.endswith(f"-tutorial-{load_config(None, SMALL).hash()}")


def test_same_config_and_seed_give_the_same_numbers(runs_dir: Path) -> None:
    a = train_run(load_config(None, SMALL), runs_dir)
    b = train_run(load_config(None, SMALL), runs_dir)
    c = train_run(load_config(None, [*SMALL, "seed=7"]), runs_dir)
    strip = lambda run: [{k: v for k, v in row.items() if k != "seconds"} for row in run.history()]  # noqa: E731
    assert strip(a.run) == strip(b.run)
    assert a.test == b.test
    assert strip(a.run) != strip(c.run)
    assert a.run.id != b.run.id  # a rerun never overwrites


def assert_same_history(a: list[dict[str, float]], b: list[dict[str, float]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-6)


def test_keras_steps_per_execution_does_not_change_results(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(None, [*SMALL, "fused_loop=false"])
    fast = train_run(config, runs_dir)
    assert fast.run.info.loop == "keras.fit"
    monkeypatch.setattr(fbuild, "MAX_STEPS_PER_EXECUTION", 1)
    slow = train_run(config, runs_dir)
    assert_same_history(fast.run.history(), slow.run.history())


def test_fused_block_size_does_not_change_results(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fashionlab.engine import loop as fused

    blocks = train_run(load_config(None, SMALL), runs_dir)
    assert blocks.run.info.loop == "fused"
    monkeypatch.setattr(fused, "CALLS_PER_EPOCH", 10_000)  # one step per call
    steps = train_run(load_config(None, SMALL), runs_dir)
    assert_same_history(blocks.run.history(), steps.run.history())


def test_fused_loop_learns_as_well_as_keras_fit(runs_dir: Path) -> None:
    """Same model, data and epochs: the fused loop (own shuffling) and keras.fit reach the same quality."""
    common = ["train_samples=3000", "test_samples=1000", "epochs=3"]
    fused = train_run(load_config(None, common), runs_dir)
    keras_fit = train_run(load_config(None, [*common, "fused_loop=false"]), runs_dir)
    assert fused.test["accuracy"] > 0.75 and keras_fit.test["accuracy"] > 0.75
    assert abs(fused.test["accuracy"] - keras_fit.test["accuracy"]) < 0.04


@pytest.mark.parametrize("name", ["mse", "sgd", "deeper"])
def test_other_losses_and_optimizers_train(runs_dir: Path, name: str) -> None:
    result = train_run(load_config(CONFIGS / f"{name}.yaml", SMALL), runs_dir)
    assert result.run.status == "completed" and 0.0 <= result.test["accuracy"] <= 1.0


def test_categorical_crossentropy_gets_one_hot_labels(runs_dir: Path) -> None:
    result = train_run(load_config(None, [*SMALL, "loss=categorical_crossentropy"]), runs_dir)
    assert result.test["accuracy"] > 0.5


def test_cnn_trains(runs_dir: Path) -> None:
    result = train_run(
        load_config(CONFIGS / "cnn.yaml", ["train_samples=300", "test_samples=100", "epochs=1"]), runs_dir
    )
    assert result.run.status == "completed"


def test_divergence_marks_the_run(runs_dir: Path) -> None:
    with pytest.raises(Diverged, match=r"diverged: loss exploded to .* in epoch 1; lower the learning rate"):
        train_run(load_config(None, [*SMALL, "optimizer=sgd", "lr=50"]), runs_dir)
    (run,) = RunStore(runs_dir).runs()
    assert run.status == "diverged" and len(run.history()) == 1


def test_tensorflow_backend_trains_in_its_own_process(tmp_path: Path) -> None:
    env = {**os.environ, "FASHIONLAB_RUNS": str(tmp_path / "runs")}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-m", "fashionlab", "train", "--json", "backend=tensorflow", *SMALL],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    (run,) = RunStore(tmp_path / "runs").runs()
    assert run.info.backend == "tensorflow" and "tensorflow" in run.info.versions
    assert out["test"]["accuracy"] > 0.5


def _history(val_loss: list[float], loss: list[float] | None = None) -> list[dict[str, float]]:
    loss = loss or [1.0 / (i + 1) for i in range(len(val_loss))]
    return [
        {"epoch": i + 1, "loss": lo, "accuracy": 0.9, "val_loss": v, "val_accuracy": 0.85, "seconds": 1.0}
        for i, (v, lo) in enumerate(zip(val_loss, loss, strict=True))
    ]


# the 10-epoch tutorial of issue 32: val_loss bounced at epochs 4 and 7-8, lowest at 9, up at 10
TUTORIAL_10 = [0.4069, 0.3797, 0.3645, 0.3761, 0.3458, 0.3400, 0.3471, 0.3499, 0.3156, 0.3413]


def test_overfitting_is_a_trend_not_a_bump() -> None:
    from scipy import stats

    s = summarize_history(_history(TUTORIAL_10))
    assert s["best_epoch"] == 9 and s["overfitting"] is False  # one epoch after the minimum is no trend
    assert s["verdict"].startswith(
        "No clear overfitting: val_loss was lowest at epoch 9 of 10; the epochs after it (1)"
    )
    # 150 epochs: lowest at epoch 10, then a steady rise with epoch-to-epoch noise, as in the lab
    rng = np.random.default_rng(0)
    falling = list(np.linspace(0.6, 0.33, 10))
    rising = list(0.33 + 0.006 * np.arange(1, 141) + rng.normal(0, 0.01, 140))
    long = _history(falling + rising)
    s = summarize_history(long)
    assert s["overfitting"] is True and s["best_epoch"] == 10
    t = s["overfit_trend"]  # recomputed with scipy alone
    after = [row["val_loss"] for row in long][9:]
    fit = stats.linregress(range(len(after)), after, alternative="greater")
    assert t["epochs_after"] == 140 and t["p"] == pytest.approx(fit.pvalue) and t["p"] < 0.05
    assert t["wander"] == pytest.approx(np.median(np.abs(np.diff([row["val_loss"] for row in long]))))
    assert t["rise"] > 2 * t["wander"]
    assert s["verdict"].startswith("Overfitting: val_loss was lowest (0.3300) at epoch 10 and rose to ")
    # a rise within the wander, and one while the training loss did not fall, are not overfitting
    flat = _history([0.5, 0.4, 0.3, 0.31, 0.30, 0.31, 0.30, 0.305])
    assert summarize_history(flat)["overfitting"] is False
    stuck = _history([0.5, 0.4, 0.3, 0.4, 0.5, 0.6, 0.7], loss=[0.5] * 7)
    s = summarize_history(stuck)
    assert s["overfitting"] is False and s["verdict"].endswith("the training loss did not fall meanwhile.")
    s = summarize_history(_history([0.5, 0.4]))
    assert (
        s["overfitting"] is False
        and s["verdict"] == "No overfitting: val_loss was still falling at the last epoch (2)."
    )


def test_classification_report_by_hand() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    r = classification_report(y_true, y_pred, num_classes=3)
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"][1] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "specificity": 2 / 3, "support": 3}
    )
    assert r["per_class"][2]["specificity"] == pytest.approx(4 / 5)
