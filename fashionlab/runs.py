"""The run directory format: create, write atomically, list, load. No Keras here.

runs/<run-id>/   config.yaml  run.json  history.csv  metrics.json  model.keras  curves.png
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from fashionlab.errors import RunError, RunNotFound

HISTORY_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]


def default_runs_dir() -> Path:
    return Path(os.environ.get("FASHIONLAB_RUNS", "runs"))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def history_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Run:
    """A run directory, read lazily."""

    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # set when the directory is broken

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        if self.problem:
            return "broken"
        status = str(self.info.get("status", "broken"))
        if status == "running" and self.info.get("host") == socket.gethostname():
            pid = self.info.get("pid")
            if isinstance(pid, int) and not _pid_alive(pid):
                return "interrupted"
        return status

    @property
    def name(self) -> str:
        return str(self.info.get("name", "?"))

    def config(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load((self.path / "config.yaml").read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise RunError(f"run {self.id} has no readable config.yaml ({exc}); it cannot be used") from None
        if not isinstance(data, dict):
            raise RunError(f"run {self.id}: config.yaml is not a mapping; it cannot be used")
        return data

    def history(self) -> list[dict[str, float]]:
        try:
            text = (self.path / "history.csv").read_text()
        except FileNotFoundError:
            return []
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v not in ("", None)})
        return rows

    def metrics(self) -> dict[str, Any]:
        """metrics.json; run.json keeps a copy (and the only one for pruned or diverged runs), read first."""
        cached = self.info.get("metrics")
        if isinstance(cached, dict):
            return cached
        try:
            data = json.loads((self.path / "metrics.json").read_text())
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"run {self.id}: metrics.json is unreadable ({exc})") from None
        return data if isinstance(data, dict) else {}

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    def update(self, **changes: Any) -> None:
        self.info.update(changes)
        write_json(self.path / "run.json", self.info)

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        write_atomic(self.path / "history.csv", history_csv(rows))

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.path / "metrics.json", metrics)


def read_run(path: Path) -> Run:
    """A Run from its directory; a broken one comes back with `problem` set instead of raising."""
    try:
        info = json.loads((path / "run.json").read_text())
        if not isinstance(info, dict):
            raise ValueError("run.json is not an object")
    except FileNotFoundError:
        return Run(path, {}, "run.json is missing")
    except (OSError, ValueError) as exc:
        return Run(path, {}, f"run.json is unreadable ({exc})")
    return Run(path, info)


def create_run(runs_dir: Path, name: str, config_hash: str, config_yaml: str, extra: dict[str, Any]) -> Run:
    """Make a new run directory (never reusing one) with its config and a 'running' run.json."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{name}-{config_hash}"
    for n in range(1, 1000):
        run_id = base if n == 1 else f"{base}-{n}"
        try:
            (runs_dir / run_id).mkdir()
            break
        except FileExistsError:
            continue
    run = Run(runs_dir / run_id)
    write_atomic(run.path / "config.yaml", config_yaml)
    run.update(
        id=run_id,
        name=name,
        config_hash=config_hash,
        status="running",
        started=now(),
        ended=None,
        pid=os.getpid(),
        host=socket.gethostname(),
        command=" ".join(["fashionlab", *sys.argv[1:]]) if sys.argv else "",
        python=platform.python_version(),
        **extra,
    )
    return run


def list_runs(runs_dir: Path) -> list[Run]:
    """Every run directory, oldest first (ids start with the UTC time)."""
    if not runs_dir.is_dir():
        return []
    return [read_run(p) for p in sorted(runs_dir.iterdir()) if p.is_dir() and not p.name.startswith((".", "sweeps"))]


def load_run(runs_dir: Path, ref: str | None = None, need_model: bool = False) -> Run:
    """A run by id, unique prefix or substring, or the latest completed one when ref is None or 'latest'."""
    runs = list_runs(runs_dir)
    if ref in (None, "latest"):
        done = [r for r in runs if r.status == "completed" and (not need_model or r.model_path.is_file())]
        if not done:
            raise RunNotFound(f"no completed runs yet in {runs_dir}/; train one with 'fashionlab train'")
        return done[-1]
    assert ref is not None
    exact = [r for r in runs if r.id == ref]
    matches = exact or [r for r in runs if r.id.startswith(ref)] or [r for r in runs if ref in r.id]
    if not matches:
        raise RunNotFound(f"no run '{ref}' in {runs_dir}/; 'fashionlab runs' lists them")
    if len(matches) > 1:
        shown = ", ".join(r.id for r in matches[:5])
        raise RunNotFound(f"'{ref}' matches {len(matches)} runs ({shown}); give more of the id")
    run = matches[0]
    if run.problem:
        raise RunError(f"run {run.id} is broken: {run.problem}")
    if need_model and not run.model_path.is_file():
        raise RunError(
            f"run {run.id} has no model.keras (status {run.status}); pick a completed run from 'fashionlab runs'"
        )
    return run
