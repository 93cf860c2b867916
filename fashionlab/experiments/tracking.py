"""Logging finished runs to MLflow: params, per-epoch metrics, test metrics, figures and the model.

Runs are logged from their run directories after they finish, so it works the same for local, parallel
and Ray trials. A sweep or search becomes one MLflow parent run with a child run per trial. MLflow is
an optional extra: pip install 'fashionlab[mlflow]', which brings `mlflow ui` too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from fashionlab.errors import FashionlabError
from fashionlab.store import Run
from fashionlab.views.compare import flatten

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


def log_runs(runs: list[Run], uri: str, group: str | None = None) -> list[str]:
    """Log each run (and, for a sweep, a parent run named after it); returns the MLflow run ids."""
    mlflow = _mlflow(uri)
    ids: list[str] = []
    parent = mlflow.start_run(run_name=group, tags={"fashionlab.sweep": group}) if group else contextlib.nullcontext()
    with parent:
        for run in runs:
            with mlflow.start_run(run_name=run.id, nested=group is not None) as active:
                _log_one(mlflow, run)
                ids.append(active.info.run_id)
    return ids


def _log_one(mlflow: Any, run: Run) -> None:
    config = run.info.get("config") or run.config()
    params = {k: ("null" if v is None else v) for k, v in flatten(config).items()}
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
    mlflow.set_tags(
        {
            "fashionlab.run": run.id,
            "fashionlab.status": run.status,
            "fashionlab.backend": str(run.info.get("backend")),
            "fashionlab.config_hash": str(run.info.get("config_hash")),
        }
    )
    for row in run.history():
        step = int(row["epoch"])
        mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=step)
    metrics = run.metrics()
    for key, value in (metrics.get("test") or {}).items():
        mlflow.log_metric(f"test_{key}", value)
    summary = metrics.get("summary") or {}
    if "best_epoch" in summary:
        mlflow.log_metric("best_epoch", summary["best_epoch"])
        for key, value in summary.get("best", {}).items():
            mlflow.log_metric(f"best_{key}", value)
    for path in run.artifacts():
        mlflow.log_artifact(str(path))


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
