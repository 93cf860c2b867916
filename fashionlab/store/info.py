"""run.json as a typed model: every field a run directory's info holds, with the type it must have.

`Run.info` is a RunInfo; the Run methods (store/run.py) are the only writers, one per status transition;
code outside store/ reads fields by name (`run.info.backend`), never by string key. Fields a newer or older
fashionlab wrote that this one does not know are kept in `extra` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fashionlab.store import files

# Each field's type (None is allowed for every one): a run.json whose field has another is broken.
_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "name": str, "config_hash": str, "status": str, "started": str, "ended": str, "pid": int,
    "host": str, "command": str, "python": str, "hash_scheme": int, "backend": str, "device": str, "loop": str,
    "versions": dict, "seed": int, "population": int, "config": dict, "metrics": dict, "epochs_done": int,
    "checkpoint_epoch": int, "best_weights_epoch": int, "resumed": list, "shared_training": list,
    "stopped_early": dict, "error": str, "curves_error": str, "trained_on": str, "executor": str,
}  # fmt: skip


@dataclass
class RunInfo:
    """What run.json says of a run: who made it, how it was trained, where it stands."""

    id: str | None = None
    name: str | None = None
    config_hash: str | None = None
    status: str | None = None  # a RunStatus value; Run.status interprets it (a dead pid: interrupted)
    started: str | None = None
    ended: str | None = None
    pid: int | None = None
    host: str | None = None
    command: str | None = None  # the command line that launched it
    python: str | None = None
    hash_scheme: int | None = None
    backend: str | None = None
    device: str | None = None
    loop: str | None = None  # "fused" or "keras.fit"
    versions: dict[str, str] | None = None
    seed: int | None = None
    population: int | None = None  # the size of the population it trained in, if it did
    config: dict[str, Any] | None = None  # the resolved config, cached
    metrics: dict[str, Any] | None = None  # metrics.json's copy (the only one for pruned or diverged runs)
    epochs_done: int | None = None
    checkpoint_epoch: int | None = None
    best_weights_epoch: int | None = None
    resumed: list[dict[str, Any]] | None = None
    shared_training: list[str] | None = None  # the runs fed by the same training
    stopped_early: dict[str, Any] | None = None  # {epoch, best_epoch, restored}
    error: str | None = None
    curves_error: str | None = None
    trained_on: str | None = None  # the host of a Ray worker that trained it
    executor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> tuple[RunInfo, str | None]:
        """The info of a run.json object, and what is wrong with it (None when nothing is)."""
        known = {k: v for k, v in data.items() if k in _TYPES}
        info = cls(**known, extra={k: v for k, v in data.items() if k not in _TYPES})
        return info, _problem(data)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**{k: v for k, v in out.items() if v is not None or k == "ended"}, **self.extra}

    def change(self, **changes: Any) -> None:
        for key, value in changes.items():
            if key not in _TYPES:
                raise AttributeError(f"run.json has no field {key}")
            setattr(self, key, value)


def _problem(data: dict[str, Any]) -> str | None:
    """What is wrong with run.json's fields (a hand edit, another program), or None: such a run is broken."""
    for key, kind in _TYPES.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            return f"{files.RUN_INFO} field {key} is {value!r}, not {getattr(kind, '__name__', kind)}"
    if data.get("metrics") is not None:
        return metrics_problem(data["metrics"], f"{files.RUN_INFO} field metrics")
    return None


def metrics_problem(metrics: Any, where: str) -> str | None:
    """What is wrong with the shape of a metrics dict (metrics.json, or run.json's copy), or None."""
    if not isinstance(metrics, dict):
        return f"{where} is not an object"
    for part in ("summary", "test"):
        value = metrics.get(part)
        if value is not None and not isinstance(value, dict):
            return f"{where}.{part} is {type(value).__name__}, not an object"
    summary = metrics.get("summary") or {}
    for part in ("last", "best"):
        value = summary.get(part)
        if value is not None and not isinstance(value, dict):
            return f"{where}.summary.{part} is {type(value).__name__}, not an object"
    for name, values in [("test", metrics.get("test") or {}), *((p, summary.get(p) or {}) for p in ("last", "best"))]:
        for key, number in values.items():
            if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
                return f"{where} {name} {key} is {number!r}, not a number"
    return None
