"""The names of everything in a runs directory, and writing files so readers never see half of one.

runs/
  <run-id>/        config.yaml  run.json  history.csv  metrics.json  model.keras  checkpoint.npz
                   best.weights.npz
                   curves.png   tensorboard/  export-<format>
  sweeps/          <sweep-id>.json (the record of a sweep or search), <search-id>.db (its Optuna study),
                   <sweep-id>/<group>.log (why a training failed before its run existed)
  .locks/          one lock file per training group
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CONFIG = "config.yaml"
RUN_INFO = "run.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
CHECKPOINT = "checkpoint.npz"
BEST_WEIGHTS = "best.weights.npz"  # the weights of the best epoch so far (lowest val_loss, or the monitor)
CURVES = "curves.png"
TENSORBOARD = "tensorboard"
SWEEPS = "sweeps"
LOCKS = ".locks"
ARTIFACTS = (CURVES, MODEL, CONFIG, HISTORY)  # what a tracker copies out of a finished run

HISTORY_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]


def default_runs_dir() -> Path:
    return Path(os.environ.get("FASHIONLAB_RUNS") or "runs")  # an empty value is no value


def cache_dir(part: str = "") -> Path | None:
    """A folder of fashionlab's cache (`FASHIONLAB_CACHE`, else $XDG_CACHE_HOME/fashionlab or ~/.cache/fashionlab);
    None when `FASHIONLAB_CACHE` is off (0, off, false or none). Deleting it at any time is safe."""
    setting = os.environ.get("FASHIONLAB_CACHE", "")
    if setting.lower() in ("0", "off", "false", "none"):
        return None
    root = Path(setting) if setting else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fashionlab"
    return root / part


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


def read_history(text: str) -> list[dict[str, float]]:
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v not in ("", None)})
    return rows
