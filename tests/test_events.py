"""The one event stream (fashionlab.events): the engine emits a training's events straight into its sink,
and a sweep's are the same objects whether a trial trained in this process or in a --jobs worker."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.events import BatchEnded, EpochEnded, Event, RunEnded, RunStarted, TrialEnded
from fashionlab.experiments import plan as fplan
from fashionlab.experiments.sweep import run_sweep
from fashionlab.store import RunStore
from tests.conftest import SMALL, train_run


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


def test_one_training_emits_its_start_every_batch_and_every_epoch(tmp_path: Path) -> None:
    sink = Recorder()
    result = train_run(load_config(None, SMALL), tmp_path / "runs", sink)
    kinds = Counter(type(e).__name__ for e in sink.events)
    assert isinstance(sink.events[0], RunStarted) and sink.events[0].run == result.run.id
    assert kinds["EpochEnded"] == 2 and kinds["BatchEnded"] >= 2 and kinds["TrialEnded"] == 0
    assert sink.events[-1] == RunEnded("run", result.run.id, "completed")  # as the store says, after the loop
    rows = [e.row for e in sink.events if isinstance(e, EpochEnded)]
    assert [r["epoch"] for r in rows] == [1, 2] and [r["loss"] for r in rows] == [
        r["loss"] for r in result.run.history()
    ]
    for event in sink.events:  # what crosses the process boundary of --jobs, as it is
        assert pickle.loads(pickle.dumps(event)) == event


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_sweep_streams_the_same_events_in_this_process_and_from_workers(tmp_path: Path, jobs: int) -> None:
    sink = Recorder()
    the_plan = fplan.expand([], ["optimizer=adam,sgd", *SMALL])
    result = run_sweep(the_plan, RunStore(tmp_path / "runs"), jobs=jobs, events=sink)
    assert len(result.runs) == 2 and not result.failed
    started = [e for e in sink.events if isinstance(e, RunStarted)]
    assert sorted(e.label for e in started) == ["g0", "g1"] and all(e.trials == 1 and e.epochs == 2 for e in started)
    epochs = Counter(e.label for e in sink.events if isinstance(e, EpochEnded))
    assert epochs == {"g0": 2, "g1": 2}
    ended = [e.outcome for e in sink.events if isinstance(e, TrialEnded)]
    assert sorted(o.run_id or "" for o in ended) == sorted(r.id for r in result.runs) and all(
        o.completed for o in ended
    )
    assert sorted(e.run for e in sink.events if isinstance(e, RunEnded)) == sorted(r.id for r in result.runs)
    assert all(isinstance(e, RunStarted | BatchEnded | EpochEnded | RunEnded | TrialEnded) for e in sink.events)
