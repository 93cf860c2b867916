"""Typed records of trials and of sweeps/searches, with the one reader and writer of sweeps/<id>.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fashionlab.store.run import RunStatus


@dataclass
class TrialOutcome:
    """What became of one trial of a sweep or search (also what a worker process sends back)."""

    hash: str | None  # the config hash; None where the config itself was invalid
    status: RunStatus = RunStatus.PENDING
    run_id: str | None = None
    error: str | None = None
    log: str | None = None  # a log file, when training failed before its run directory existed
    skipped: bool = False  # completed in an earlier sweep or train: not trained again
    values: dict[str, Any] = field(default_factory=dict)  # the trial's value on each axis
    epochs: int | None = None  # sweeps: the trial's epochs
    number: int | None = None  # searches: Optuna's trial number
    value: float | None = None  # searches: the objective
    reused: bool = False  # searches: the sampler proposed a config trained before

    @property
    def completed(self) -> bool:
        return self.status == RunStatus.COMPLETED

    @property
    def label(self) -> str:
        """How a person can tell this trial apart: its run, else its hash, else its number."""
        return self.run_id or self.hash or f"trial {self.number}"

    def to_json(self) -> dict[str, Any]:
        """The record's form: run_id always, other empty fields left out."""
        data = {k: v for k, v in asdict(self).items() if (v is not None and v is not False) or k == "run_id"}
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialOutcome:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known.setdefault("hash", None)
        try:
            known["status"] = RunStatus(str(known.get("status", "pending")))
        except ValueError:
            known["status"] = RunStatus.BROKEN
        return cls(**known)


@dataclass
class SweepRecord:
    """A sweep or a search: what was asked, its axes, and each trial's outcome, in trial order."""

    id: str
    kind: str  # "sweep" or "search"
    state: str  # running | completed | completed with failures | stopped | interrupted
    command: str
    config_files: list[str | None]
    items: list[str]
    axes: dict[str, Any]
    trials: list[TrialOutcome]
    updated: str = ""
    search: dict[str, Any] = field(default_factory=dict)  # metric, sampler, prune, target_trials, study

    @property
    def run_ids(self) -> list[str]:
        return [t.run_id for t in self.trials if t.run_id]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "updated": self.updated,
            "command": self.command,
            "config_files": self.config_files,
            "items": self.items,
            "axes": self.axes,
        }
        data.update(self.search)
        data["trials"] = [t.to_json() for t in self.trials]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepRecord:
        search_keys = ("metric", "sampler", "prune", "target_trials", "study")
        return cls(
            id=str(data["id"]),
            kind=str(data.get("kind", "sweep")),
            state=str(data.get("state", "")),
            command=str(data.get("command", "")),
            config_files=list(data.get("config_files") or [None]),
            items=list(data.get("items") or []),
            axes=dict(data.get("axes") or {}),
            trials=[TrialOutcome.from_json(t) for t in data["trials"] if isinstance(t, dict)],
            updated=str(data.get("updated", "")),
            search={k: data[k] for k in search_keys if k in data},
        )
