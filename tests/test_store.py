"""The store's typed records: what sweeps and searches write and read back."""

from __future__ import annotations

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
