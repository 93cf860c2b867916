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
        raise FashionlabError(
            "`mlflow` needs MLflow: pip install 'fashionlab[mlflow]' (make test installs it)"
        ) from None
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


STATUS = {"completed": "FINISHED", "interrupted": "KILLED", "running": "RUNNING"}  # else FAILED


@dataclass
class Logged:
    ids: list[str]  # the MLflow run id of each fashionlab run, in order
    new: int  # how many were logged now (the others were logged before and left as they were)


def log_runs(runs: list[Run], uri: str, group: str | None = None, axes: dict[str, Any] | None = None) -> Logged:
    """Log each run not logged before (found by its `fashionlab.run` tag) with its real start and end,
    per-epoch metrics, artifacts and its model (MLflow's Keras flavor, with a signature); a sweep or
    search is a parent run with its axes as params and its best trial's metrics."""
    mlflow = _mlflow(uri)
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    earlier = {r.data.tags.get("fashionlab.run") or r.data.tags.get("fashionlab.sweep"): r.info.run_id
               for r in client.search_runs([experiment], max_results=50_000)}  # fmt: skip
    parent = _parent(client, experiment, earlier, runs, group, axes) if group else None
    ids, new = [], 0
    for run in runs:
        if run.id not in earlier:
            earlier[run.id] = _log_one(mlflow, client, experiment, run, parent)
            new += 1
        ids.append(earlier[run.id])
    return Logged(ids, new)


def _ms(stamp: Any) -> int | None:
    """run.json's ISO time as MLflow's milliseconds."""
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return None


def _parent(
    client: Any, experiment: str, earlier: dict[str, str], runs: list[Run], group: str, axes: dict[str, Any] | None
) -> str:
    """The sweep's parent run (made once): its axes as params, its best trial's test metrics."""
    if group in earlier:
        return earlier[group]
    starts = [t for r in runs if (t := _ms(r.info.started))]
    ends = [t for r in runs if (t := _ms(r.info.ended))]
    parent = client.create_run(experiment, start_time=min(starts, default=None), run_name=group,
                               tags={"fashionlab.sweep": group}).info.run_id  # fmt: skip
    for key, values in (axes or {}).items():
        client.log_param(parent, key, ",".join(map(str, values)) if isinstance(values, list) else str(values))
    done = [r for r in runs if (r.metrics().get("test") or {}).get("accuracy") is not None]
    if done:
        best = max(done, key=lambda r: r.metrics()["test"]["accuracy"])
        client.set_tag(parent, "fashionlab.best_run", best.id)
        for key, value in best.metrics()["test"].items():
            client.log_metric(parent, f"best_test_{key}", value)
    client.set_terminated(parent, "FINISHED", end_time=max(ends, default=None))
    earlier[group] = parent
    return parent


def _log_one(mlflow: Any, client: Any, experiment: str, run: Run, parent: str | None) -> str:
    config = run.info.config or run.config()
    tags = {
        "fashionlab.run": run.id,
        "fashionlab.status": str(run.status),
        "fashionlab.backend": str(run.info.backend),
        "fashionlab.config_hash": str(run.info.config_hash),
        **({"mlflow.parentRunId": parent} if parent else {}),
    }
    started = _ms(run.info.started)
    run_id = client.create_run(experiment, start_time=started, tags=tags, run_name=run.id).info.run_id
    params = {k: ("null" if v is None else v) for k, v in flatten(config).items()}
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
    """The model as an MLflow logged model (Keras flavor) with an input example and its signature."""
    from fashionlab.engine.inference import load_trained, model_input_example

    config, model = load_trained(run, for_training=False)
    example = model_input_example(config)
    import mlflow.keras  # after load_trained chose the Keras backend

    signature = mlflow.models.infer_signature(example, model.predict(example, verbose=0))
    with mlflow.start_run(run_id=run_id), _example_folder_made(mlflow):
        mlflow.keras.log_model(model, name="model", input_example=example, signature=signature)


@contextlib.contextmanager
def _example_folder_made(mlflow: Any) -> Iterator[None]:
    """MLflow 3.17's Keras flavor writes the input example before it makes the model's folder (and fails
    with FileNotFoundError); make the folder first, for the time of one log_model."""
    save: Any = getattr(mlflow.keras, "save", None)
    original = getattr(save, "_save_example", None)
    if original is None:
        yield
        return

    def save_example(model: Any, example: Any, path: str, *args: Any, **kwargs: Any) -> Any:
        os.makedirs(path, exist_ok=True)
        return original(model, example, path, *args, **kwargs)

    save._save_example = save_example
    try:
        yield
    finally:
        save._save_example = original


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
