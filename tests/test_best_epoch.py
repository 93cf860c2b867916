"""The best epoch's model is kept beside the last one's, and early stopping stops (restoring the best)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.engine.best import BestEpoch
from fashionlab.store import RunStore
from tests.conftest import Cli, resume_run, train_run

DATA = ["train_samples=2000", "test_samples=300", "batch_size=64"]
STOP = ["early_stopping.patience=1", "early_stopping.monitor=val_accuracy", "early_stopping.min_delta=0.02"]


def test_best_epoch_tracking_without_keras() -> None:
    rows = [{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": 0.7}, {"epoch": 3, "val_loss": 0.8}]
    best = BestEpoch(None, rows)
    assert (best.epoch, best.value, best.wait) == (2, 0.7, 1)
    stopping = load_config(None, ["early_stopping.patience=2", "early_stopping.min_delta=0.05"]).early_stopping
    patient = BestEpoch(stopping, rows)
    assert patient.epoch == 2 and patient.wait == 1
    assert not patient.update({"epoch": 4, "val_loss": 0.68}) and patient.wait == 2  # 0.02 < min_delta


def test_keras_early_stopping_resumed_from_a_history_stops_where_one_training_would() -> None:
    """keras.callbacks.EarlyStopping, shown the epochs a resumed run already had, stops at the epoch an
    uninterrupted training stops at (and restores the best epoch's weights, loaded from the run)."""
    import keras
    import numpy as np

    from fashionlab.engine.callbacks import EarlyStopping

    stopping = load_config(None, ["early_stopping.patience=2", "early_stopping.min_delta=0.05"]).early_stopping
    rows = [{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": 0.7}, {"epoch": 3, "val_loss": 0.8}]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = [np.full(w.shape, 7.0, "float32") for w in model.get_weights()]
    for split in (0, 1, 3):  # a training that ran from the start, and two resumed after 1 and 3 epochs
        early = EarlyStopping(stopping, rows[:split], lambda: best)
        early.set_model(model)
        model.stop_training = False
        early.on_train_begin()
        stopped = None
        for epoch in range(split, 6):
            early.on_epoch_end(epoch, rows[epoch] if epoch < 3 else {"val_loss": 0.68})
            if model.stop_training:
                stopped = epoch + 1
                break
        model.stop_training = False
        assert (stopped, early.stopped_at, early.best_epoch) == (4, 4, 1)  # epoch 2 (from 0: 1)
        assert early.best_weights is not None
    early.on_train_end()
    assert all((w == 7.0).all() for w in model.get_weights())  # the resumed one restored the loaded weights


def test_best_epoch_model_equals_a_run_stopped_there(cli: Cli, runs_dir: Path) -> None:
    assert cli("train", "epochs=4", *DATA).exit_code == 0
    (run,) = RunStore(runs_dir).runs()
    best_epoch = run.metrics()["summary"]["best_epoch"]
    assert run.info.best_weights_epoch == best_epoch  # the same epoch the summary calls best
    best = json.loads(cli("evaluate", run.id, "--epoch", "best", "--json").stdout)
    assert best["epoch"] == f"best ({best_epoch})"
    assert cli("train", f"epochs={best_epoch}", *DATA).exit_code == 0
    short = next(r for r in RunStore(runs_dir).runs() if r.id != run.id)
    there = json.loads(cli("evaluate", short.id, "--json").stdout)
    assert (best["test_loss"], best["test_accuracy"]) == (there["test_loss"], there["test_accuracy"])
    bad = cli("evaluate", run.id, "--epoch", "middle")
    assert bad.exit_code == 6 and bad.stderr == "Error: --epoch middle is not known; use last or best\n"
    (run.path / "best.weights.npz").unlink()
    gone = cli("predict", run.id, "--index", "0", "--epoch", "best")
    assert gone.exit_code == 5 and gone.stderr.rstrip().endswith("use --epoch last")


def test_early_stopping_stops_and_restores_the_best(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "epochs=8", *DATA, *STOP)
    assert result.exit_code == 0, result.output
    (run,) = RunStore(runs_dir).runs()
    stopped = run.info.stopped_early
    assert len(run.history()) == stopped["epoch"] < 8 and stopped["restored"] == (
        stopped["best_epoch"] != stopped["epoch"]
    )
    assert f"Stopped early after epoch {stopped['epoch']}" in " ".join(result.stdout.split())
    last = json.loads(cli("evaluate", run.id, "--json").stdout)
    best = json.loads(cli("evaluate", run.id, "--epoch", "best", "--json").stdout)
    if stopped["restored"]:
        assert (last["test_loss"], last["test_accuracy"]) == (best["test_loss"], best["test_accuracy"])


@pytest.mark.parametrize("epochs", ["2,8"])
def test_early_stopping_in_a_shared_epoch_sweep(cli: Cli, runs_dir: Path, epochs: str) -> None:
    result = cli("sweep", f"epochs={epochs}", *DATA, *STOP, "--jobs", "1")
    assert result.exit_code == 0, result.output
    runs = sorted(RunStore(runs_dir).runs(), key=lambda r: r.info.config["epochs"])
    assert [r.status for r in runs] == ["completed", "completed"]
    short, long = runs
    assert len(short.history()) == 2 and len(long.history()) == long.info.stopped_early["epoch"] < 8


def test_early_stopping_survives_an_interrupt(tmp_path: Path) -> None:
    """Interrupted after epoch 1 and resumed: the same stop, the same best epoch, the same test numbers."""
    from tests.test_reliability import StopAfter, strip

    cfg = load_config(None, ["epochs=8", *DATA, *STOP])
    whole = train_run(cfg, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "cut", StopAfter(1))
    (run,) = RunStore(tmp_path / "cut").runs()
    resumed = resume_run(run)
    assert strip(resumed.run.history()) == strip(whole.run.history())
    assert resumed.run.info.stopped_early == whole.run.info.stopped_early
    assert resumed.test == whole.test


def test_report_epoch_is_checked(trained: Cli, tmp_path: Path) -> None:
    bad = trained("report", "--epoch", "middle", "--out", str(tmp_path / "r.md"))
    assert bad.exit_code == 6 and bad.stderr == "Error: --epoch middle is not known; use last or best\n"
    assert not (tmp_path / "r.md").exists()
