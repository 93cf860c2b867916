"""TensorBoard logs for every run a training feeds: its own scalars (a shared training's shorter runs
take their prefix of it), its test metrics, and its config as HParams, so TensorBoard's HParams
dashboard compares the trials of a sweep or search by their values and metrics.

Written with TensorFlow's summary writers in the layout Keras's TensorBoard callback uses
(`train/` and `validation/`, tags `epoch_loss`, `epoch_accuracy`, steps from 0), which `tensorboard
--logdir runs/` reads.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from fashionlab.config import Config, with_defaults
from fashionlab.errors import FashionlabError
from fashionlab.keys import flatten
from fashionlab.store import Run


class TensorBoardWriters:
    """One pair of writers (train, validation) per run, and its HParams written once."""

    def __init__(self, runs: list[tuple[Config, Run]]) -> None:
        require_tensorflow()
        from fashionlab.engine.backend import import_tensorflow_quietly

        import_tensorflow_quietly()
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        self.tf = tf
        self.writers: dict[str, tuple[Any, Any]] = {}
        for config, run in runs:
            folder = run.tensorboard_dir
            self.writers[run.id] = (
                tf.summary.create_file_writer(str(folder / "train")),
                tf.summary.create_file_writer(str(folder / "validation")),
            )
            with tf.summary.create_file_writer(str(folder)).as_default():
                hp.hparams(hparams(config), trial_id=run.id)

    def epoch(self, run: Run, row: dict[str, float]) -> None:
        """One finished epoch of `run`: training metrics under train/, val_* under validation/."""
        train, validation = self.writers[run.id]
        step = int(row["epoch"]) - 1  # Keras's callback counts epochs from 0
        for key, value in row.items():
            if key in ("epoch", "seconds"):
                continue
            writer = validation if key.startswith("val_") else train
            with writer.as_default():
                self.tf.summary.scalar(f"epoch_{key.removeprefix('val_')}", value, step=step)
        train.flush()
        validation.flush()

    def test(self, run: Run, test: dict[str, float], epoch: int) -> None:
        """The completed run's test metrics (test_loss, test_accuracy), for the HParams table."""
        _, validation = self.writers[run.id]
        with validation.as_default():
            for key, value in test.items():
                self.tf.summary.scalar(f"test_{key}", value, step=epoch - 1)
        validation.flush()

    def close(self) -> None:
        for train, validation in self.writers.values():
            train.close()
            validation.close()


def require_tensorflow() -> None:
    """Checked before any run exists: TensorBoard's writers are TensorFlow's."""
    if importlib.util.find_spec("tensorflow") is None:
        raise FashionlabError(
            "tensorboard: true needs TensorFlow for its log writer: pip install 'fashionlab[tensorboard]'"
        )


def hparams(config: Config) -> dict[str, bool | int | float | str]:
    """The config as HParams: every setting a trial can differ in, flattened (`optimizer.learning_rate`),
    the optimizer's arguments left at their defaults included."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in flatten(with_defaults(config.resolved())).items():
        if key in ("name", "tensorboard"):
            continue
        out[key] = value if isinstance(value, bool | int | float | str) else ("null" if value is None else str(value))
    return out


def write_from_history(run: Run) -> None:
    """A finished run's TensorBoard logs from its history.csv and metrics.json, as the callback would have
    written them while it trained (for a run trained before without tensorboard: true): the same tags and
    steps, and each epoch at the time it ended (the run's start plus its epochs' seconds), not the time
    of writing, so TensorBoard's relative and wall-time axes show the training as it went."""
    from datetime import datetime

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.plugins.hparams import api as hp
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from fashionlab.config import run_config

    require_tensorflow()
    folder = run.tensorboard_dir
    clock = datetime.fromisoformat(run.info.started).timestamp() if run.info.started else 0.0
    top, train, validation = (EventFileWriter(str(p)) for p in (folder, folder / "train", folder / "validation"))
    try:
        top.add_event(Event(wall_time=clock, summary=hp.hparams_pb(hparams(run_config(run)), trial_id=run.id)))
        rows = run.history()
        for row in rows:
            clock += float(row.get("seconds", 0.0))
            for key, value in row.items():
                if key not in ("epoch", "seconds"):
                    summary = scalar_pb(f"epoch_{key.removeprefix('val_')}", float(value))
                    (validation if key.startswith("val_") else train).add_event(
                        Event(wall_time=clock, step=int(row["epoch"]) - 1, summary=summary)
                    )
        test = run.metrics().get("test") or {}
        for key, value in test.items() if rows else ():
            if isinstance(value, int | float):
                validation.add_event(
                    Event(wall_time=clock, step=len(rows) - 1, summary=scalar_pb(f"test_{key}", value))
                )
    finally:
        for writer in (top, train, validation):
            writer.close()
