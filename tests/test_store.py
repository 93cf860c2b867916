"""The store's typed records: what sweeps and searches write and read back."""

from __future__ import annotations

from pathlib import Path

from fashionlab.store import RunStatus, SweepRecord, TrialOutcome


def test_trial_records_keep_zero_values() -> None:
    """A record round-trips through JSON; trial number 0 and epochs 0 are values, not absent fields."""
    outcome = TrialOutcome("abc", RunStatus.COMPLETED, "run-1", number=0, value=0.0, values={"lr": 0.1})
    data = outcome.to_json()
    assert data["number"] == 0 and data["value"] == 0.0 and "error" not in data and "skipped" not in data
    assert TrialOutcome.from_json(data) == outcome


def test_sweep_record_round_trips() -> None:
    trials = [TrialOutcome("abc", RunStatus.PENDING, values={"epochs": 1}, epochs=1)]
    record = SweepRecord(
        "sweep-1", "sweep", "running", "fashionlab sweep epochs=1,2", [None], ["epochs=1,2"], {}, trials
    )
    data = record.to_json()
    assert data["trials"] == [
        {"hash": "abc", "status": "pending", "run_id": None, "values": {"epochs": 1}, "epochs": 1}
    ]
    assert SweepRecord.from_json(data) == record


def test_sweep_outcomes_are_appended_not_rewritten(tmp_path: Path) -> None:
    """A 10,000-trial sweep once rewrote its whole record after every trial (16 GB written): outcomes now
    go to a journal (one line each) that readers apply and the final record folds in."""
    from fashionlab.store import RunStore

    store = RunStore(tmp_path / "runs")
    trials = [TrialOutcome(f"h{i}", values={"lr": i}, epochs=2) for i in range(1000)]
    record = SweepRecord("sweep-x", "sweep", "running", "fashionlab sweep", [None], ["lr=..."], {"lr": []}, trials)
    store.write_record(record)
    size = store.record_path("sweep-x").stat().st_size
    for i in range(1000):
        store.append_outcomes("sweep-x", [TrialOutcome(f"h{i}", RunStatus.COMPLETED, f"run-{i}")])
    journal = store.sweeps_dir / "sweep-x.journal"
    assert store.record_path("sweep-x").stat().st_size == size  # the record itself untouched
    assert journal.stat().st_size < 100 * 1000  # one short line a trial
    with journal.open("a") as fh:
        fh.write('{"hash": "h3", "status": "fai')  # a line cut by kill -9
    found = store.find_record("sweep-x")
    assert found is not None and [t.status for t in found.trials] == [RunStatus.COMPLETED] * 1000
    assert found.trials[7].run_id == "run-7" and found.trials[7].values == {"lr": 7}
    assert store.load_record("sweep-x").run_ids == [f"run-{i}" for i in range(1000)]
    store.write_record(found)
    assert not journal.exists() and store.find_record("sweep-x") == store.load_record("sweep-x")
