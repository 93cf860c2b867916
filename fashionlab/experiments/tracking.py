"""Logging finished runs to MLflow: params, per-epoch metrics, test metrics, figures and the model.

Runs are logged from their run directories after they finish, so it works the same for local, parallel
and Ray trials. A sweep or search becomes one MLflow parent run with a child run per trial. MLflow is
an optional extra: pip install 'fashionlab[mlflow]', which brings `mlflow ui` too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fashionlab.config import with_defaults
from fashionlab.errors import FashionlabError
from fashionlab.keys import flatten
from fashionlab.store import Run

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENT = "fashionlab"


def default_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)


def _mlflow(uri: str) -> Any:
    try:
        import mlflow
    except ImportError:
        raise FashionlabError("`mlflow` needs MLflow: pip install 'fashionlab[mlflow]'") from None
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for fashionlab's own bars
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def check_uri(uri: str) -> None:
    """Refuse, before anything trains, a tracking URI MLflow cannot log to: a file: store MLflow 3 keeps
    in maintenance mode (it refuses it unless told), a scheme it does not know, a database it cannot
    open, a server that does not answer (asked once, without MLflow's minutes of retries)."""
    from urllib.parse import urlparse

    scheme = urlparse(uri).scheme
    if scheme in ("", "file") and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("true", "1"):
        raise FashionlabError(
            f"MLflow 3 refuses the file store {uri} (kept in maintenance mode): set MLFLOW_ALLOW_FILE_STORE=true "
            f"to log there anyway, or use a database such as {DEFAULT_URI} (the default)"
        )
    if scheme == "sqlite":
        _check_sqlite_folder(uri)
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    try:
        with quiet():
            _mlflow(uri)
    except FashionlabError:
        raise
    except Exception as exc:  # MLflow's, SQLAlchemy's and requests' errors for a URI that does not work
        text = str(exc)
        if any(word in text for word in ("NewConnectionError", "Connection refused", "Max retries", "timed out")):
            first = "no MLflow tracking server answers there"
        else:
            first = (text.strip().splitlines() or [exc.__class__.__name__])[0][:300]
        raise FashionlabError(
            f"cannot log to MLflow at {uri}: {first}; check `mlflow_uri` (or MLFLOW_TRACKING_URI)"
        ) from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_sqlite_folder(uri: str) -> None:
    """An sqlite: URI whose file cannot be made (a folder that is not there or not writable, /proc) is refused
    at once: SQLAlchemy and MLflow would retry it for minutes."""
    from pathlib import Path

    if not uri.startswith("sqlite:///") or uri == "sqlite:///:memory:":
        return  # sqlite:// (in memory): nothing to check
    path = Path(uri[len("sqlite:///") :].split("?")[0])  # sqlite:///x.db is relative, sqlite:////x.db absolute
    if path.exists():
        ok = path.is_file() and os.access(path, os.R_OK | os.W_OK)
    else:
        ok = path.parent.is_dir() and os.access(path.parent, os.W_OK | os.X_OK)
    if not ok or path.absolute().parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise FashionlabError(
            f"cannot log to MLflow at {uri}: the database file {path} cannot be written there; check `mlflow_uri` "
            "(or MLFLOW_TRACKING_URI)"
        )


STATUS = {"completed": "FINISHED", "interrupted": "KILLED", "running": "RUNNING"}  # else FAILED


@dataclass
class Logged:
    ids: list[str]  # the MLflow run id of each fashionlab run, in order
    new: int  # how many were logged now (the others were logged before and left as they were)


def log_runs(runs: list[Run], uri: str, group: str | None = None, axes: dict[str, Any] | None = None) -> Logged:
    """Log each run not logged before (found by its `fashionlab.run` tag) with its real start and end,
    per-epoch metrics, artifacts and its model (a pyfunc that serves raw images); a sweep or search is
    one parent run with its axes as tags and its best trial's metrics. A sweep extended with more values
    keeps the parent of the sweep it extends (one whose trials are all among its own)."""
    mlflow = _mlflow(uri)
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    found = client.search_runs([experiment], max_results=50_000)
    earlier = {r.data.tags["fashionlab.run"]: r.info.run_id for r in found if "fashionlab.run" in r.data.tags}
    parent = _parent(client, experiment, found, runs, group) if group else None
    ids, new = [], 0
    for run in runs:
        if run.id not in earlier:
            earlier[run.id] = _log_one(mlflow, client, experiment, run, parent)
            new += 1
        ids.append(earlier[run.id])
    if parent:
        _summarise(client, parent, runs, axes or {})
    return Logged(ids, new)


def source_tags(command: str | None) -> dict[str, str]:
    """MLflow's own tags for who ran what (its UI's User and Source columns)."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"mlflow.user": user, "mlflow.source.type": "LOCAL", "mlflow.source.name": command or "fashionlab"}


def _ms(stamp: Any) -> int | None:
    """run.json's ISO time as MLflow's milliseconds."""
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return None


def _parent(client: Any, experiment: str, found: list[Any], runs: list[Run], group: str) -> str:
    """The sweep's parent run: the one logged for it before, else the parent of a sweep it extends (every
    child of that parent is one of its runs), else a new one."""
    ours = {r.id for r in runs}
    children: dict[str, set[str]] = {}
    for r in found:
        if "fashionlab.run" in r.data.tags and "mlflow.parentRunId" in r.data.tags:
            children.setdefault(r.data.tags["mlflow.parentRunId"], set()).add(r.data.tags["fashionlab.run"])
    parents = [r for r in found if "fashionlab.sweep" in r.data.tags]
    for r in parents:
        if r.data.tags["fashionlab.sweep"] == group:
            return str(r.info.run_id)
    for r in parents:
        if children.get(r.info.run_id) and children[r.info.run_id] <= ours:  # extended: same parent, renamed
            client.set_tag(r.info.run_id, "fashionlab.sweep", group)
            client.set_tag(r.info.run_id, "fashionlab.extends", r.data.tags["fashionlab.sweep"])
            client.set_tag(r.info.run_id, "mlflow.runName", group)
            return str(r.info.run_id)
    starts = [t for r in runs if (t := _ms(r.info.started))]
    command = next((r.info.command for r in runs if r.info.command), None)
    tags = {"fashionlab.sweep": group, **source_tags(command)}
    return str(
        client.create_run(experiment, start_time=min(starts, default=None), run_name=group, tags=tags).info.run_id
    )


def _summarise(client: Any, parent: str, runs: list[Run], axes: dict[str, Any]) -> None:
    """The parent's axes (tags, so an extended sweep can widen them), its best trial and end time."""
    for key, values in axes.items():
        shown = ",".join(map(str, values)) if isinstance(values, list) else str(values)
        client.set_tag(parent, f"fashionlab.axis.{key}", shown[:5000])
    done = [r for r in runs if (r.metrics().get("test") or {}).get("accuracy") is not None]
    if done:
        best = max(done, key=lambda r: r.metrics()["test"]["accuracy"])
        client.set_tag(parent, "fashionlab.best_run", best.id)
        for key, value in best.metrics()["test"].items():
            client.log_metric(parent, f"best_test_{key}", value)
    ends = [t for r in runs if (t := _ms(r.info.ended))]
    client.set_terminated(parent, "FINISHED", end_time=max(ends, default=None))


def _log_one(mlflow: Any, client: Any, experiment: str, run: Run, parent: str | None) -> str:
    config = run.info.config or run.config()
    tags = {
        "fashionlab.run": run.id,
        "fashionlab.status": str(run.status),
        "fashionlab.backend": str(run.info.backend),
        "fashionlab.config_hash": str(run.info.config_hash),
        **source_tags(run.info.command),
        **({"mlflow.parentRunId": parent} if parent else {}),
    }
    started = _ms(run.info.started)
    run_id = client.create_run(experiment, start_time=started, tags=tags, run_name=run.id).info.run_id
    params = {k: ("null" if v is None else v) for k, v in flatten(with_defaults(config)).items()}
    client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v)[:500]) for k, v in params.items()])
    client.log_batch(run_id, metrics=_metrics(mlflow, run, started))
    for path in run.artifacts():
        client.log_artifact(run_id, str(path))
    if run.status == "completed" and run.has_model:
        _log_model(mlflow, run, run_id)
    client.set_terminated(run_id, STATUS.get(str(run.status), "FAILED"), end_time=_ms(run.info.ended))
    return str(run_id)


def _metrics(mlflow: Any, run: Run, started: int | None) -> list[Any]:
    """Each epoch's metrics at the time that epoch ended; test and best-epoch metrics at the end."""
    metric, out, clock = mlflow.entities.Metric, [], started or 0
    for row in run.history():
        clock += int(float(row.get("seconds") or 0) * 1000)
        step = int(row["epoch"])
        out += [metric(k, float(v), clock, step) for k, v in row.items() if k not in ("epoch", "seconds")]
    metrics = run.metrics()
    out += [metric(f"test_{k}", float(v), clock, 0) for k, v in (metrics.get("test") or {}).items()]
    summary = metrics.get("summary") or {}
    if "best_epoch" in summary:
        out.append(metric("best_epoch", float(summary["best_epoch"]), clock, 0))
        out += [metric(f"best_{k}", float(v), clock, 0) for k, v in summary.get("best", {}).items()]
    return out


def _log_model(mlflow: Any, run: Run, run_id: str) -> None:
    """The run's standalone model (as `export` makes it: uint8 images in, probabilities out) as an MLflow
    pyfunc "from code" (engine/mlflow_model.py, copied into the model), so it loads and serves in a
    fresh process on any Keras backend without fashionlab; class names in its metadata."""
    import tempfile
    from pathlib import Path

    from fashionlab.engine import export

    code = Path(export.__file__).with_name("mlflow_model.py")
    with tempfile.TemporaryDirectory(prefix="fashionlab-mlflow-") as folder:
        saved = Path(folder) / "standalone.keras"
        metadata, example = export.standalone_for_serving(run, saved)
        import numpy as np
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        # No input schema: MLflow's serving would cast float JSON to uint8 (engine/mlflow_model.py).
        signature = ModelSignature(
            outputs=Schema([TensorSpec(np.dtype("float32"), (-1, len(metadata["class_names"])), "probabilities")]),
        )
        with mlflow.start_run(run_id=run_id):
            mlflow.pyfunc.log_model(
                name="model", python_model=str(code), artifacts={"model": str(saved)}, signature=signature,
                input_example=example, metadata=metadata, model_config={"keras_backend": metadata["keras_backend"]},
            )  # fmt: skip


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow prints notices on stdout; keep stdout for results."""
    import sys

    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved
