"""fashionlab from Python, for notebooks (where this lab is usually done): the commands as functions that
return typed results instead of printing tables.

    import fashionlab as fl

    result = fl.train(epochs=5)                      # a TrainResult: .run, .test, .summary
    fl.sweep("optimizer=adam,sgd", epochs=5)         # a Swept: .runs, .results (findings), .sentence
    fl.compare()                                     # a pandas DataFrame when pandas is installed
    fl.evaluate()["test_accuracy"], fl.predict(index=10)["predicted"]
    run = fl.load_run("latest")                      # a Run: .history(), .metrics(), .path

Every function takes `runs_dir` (default: $FASHIONLAB_RUNS, else runs/ in the working directory).
Keras holds one backend per process: a notebook that imported keras first trains on that backend when
the config leaves `backend` unset; a config that asks for another says what to do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fashionlab import usecases
from fashionlab.config import Config, load_config
from fashionlab.experiments import plan as plans
from fashionlab.keys import SORT_KEYS
from fashionlab.store import Run, RunStore
from fashionlab.usecases import Swept

__all__ = ["compare", "evaluate", "load_run", "predict", "sweep", "train"]


def _store(runs_dir: str | Path | None) -> RunStore:
    return RunStore(runs_dir) if runs_dir is not None else RunStore()


def _items(overrides: tuple[str, ...], values: dict[str, Any]) -> list[str]:
    """`key=value` strings and keyword values (epochs=5, lr=0.01) as one list of overrides."""
    return [*overrides, *(f"{key}={_text(value)}" for key, value in values.items())]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _keras_backend_here(items: list[str], config: str | Path | None) -> list[str]:
    """The backend the notebook already imported Keras with, when neither the config file nor the
    overrides choose one (a process holds one backend: asking for another fails)."""
    if "keras" not in sys.modules or any(i.startswith("backend=") for i in items):
        return items
    if config is not None and "backend" in load_config(config).model_fields_set:
        return items
    return [*items, f"backend={sys.modules['keras'].backend.backend()}"]


def _console() -> Any:
    """Where a notebook or a script shows progress: a line per epoch (bars where a terminal can redraw)."""
    from rich.console import Console

    return Console(highlight=False)


def train(config: str | Path | Config | None = None, *overrides: str, runs_dir: str | Path | None = None,
          progress: bool = True, **values: Any) -> Any:  # fmt: skip
    """Train one config (a path, a shipped config's name such as "adam", a Config, or None for the
    tutorial model) with `overrides` ("lr=0.01") and keyword values (epochs=5) into a new run, a line per
    epoch as it ends (`progress=False`: silent).

    Returns its TrainResult (`.run`: the Run, `.test`: test loss and accuracy, `.summary`: last and best
    epoch, overfitting); raises a FashionlabError saying why when the run did not complete."""
    if isinstance(config, Config):
        if overrides or values:
            raise TypeError("give `overrides` with a config file or name, not with a Config object")
        chosen = config
    else:
        chosen = load_config(config, _keras_backend_here(_items(overrides, values), config))
    if not progress:
        return usecases.train(chosen, _store(runs_dir)).result
    from fashionlab.views.progress import TrainProgressBars

    with TrainProgressBars(_console()) as bars:
        return usecases.train(chosen, _store(runs_dir), bars).result


def sweep(*items: str, config: str | Path | list[str | Path] | None = None, runs_dir: str | Path | None = None,
          jobs: int = 1, progress: bool = True, mlflow: bool | str = False, **values: Any) -> Swept:  # fmt: skip
    """Train every combination of the values given ("optimizer=adam,sgd", lr=[0.001, 0.01]), skipping
    the trials done before, as `fashionlab sweep` does, a line per trial as it ends (`progress=False`:
    silent); `mlflow=True` (or a tracking URI) logs the trials as `--mlflow` does. Returns a Swept:
    `.runs` (the trials' runs, in trial order), `.results` (the comparison: `.findings`, `.comparisons`),
    `.sentence` (the command's closing line), `.failed`, `.logged` (what went to MLflow), and `.result`
    (the SweepResult: `.outcomes` by trial hash, `.record` as the sweep wrote it)."""
    files = config if isinstance(config, list) else ([config] if config is not None else [None])
    wanted = _items(items, values)
    first = files[0] if files and files[0] is not None else None
    the_plan = plans.expand([None if f is None else str(f) for f in files], _keras_backend_here(wanted, first))
    uri = None
    if mlflow:
        from fashionlab.experiments.tracking import default_uri

        uri = mlflow if isinstance(mlflow, str) else default_uri()
    if not progress:
        return usecases.sweep(the_plan, _store(runs_dir), jobs=jobs, mlflow=uri)
    from fashionlab.views.progress import SweepProgressBars

    with SweepProgressBars(_console(), len(the_plan.trials)) as bars:
        return usecases.sweep(the_plan, _store(runs_dir), jobs=jobs, events=bars, mlflow=uri)


def load_run(ref: str = "latest", runs_dir: str | Path | None = None) -> Run:
    """A run by id, a unique part of it, or "latest" (the latest completed run)."""
    return _store(runs_dir).load(ref)


def compare(*runs: str, sweep: str | None = None, sort: str = "test_accuracy",
            runs_dir: str | Path | None = None) -> Any:  # fmt: skip
    """Runs side by side, best first on `sort`: the named runs, a sweep's trials, or every run. One row
    per run with its label (what sets it apart), status, the config keys that differ and every metric;
    a pandas DataFrame when pandas is installed, else a list of dicts."""
    from fashionlab.results import collect

    chosen = _store(runs_dir).select(list(runs) or None, sweep, "all")
    res = collect(chosen.runs, sort, chosen.axes)
    rows = []
    for summary in res.runs:
        row: dict[str, Any] = {"run": summary.run, "label": res.labels.get(summary.run), "status": summary.status}
        row.update({key: summary.config.get(key) for key in res.keys})
        row.update({key: summary.value(key) for key in SORT_KEYS})
        rows.append(row)
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows).set_index("run") if rows else pandas.DataFrame(rows)


def evaluate(run: str | Run = "latest", runs_dir: str | Path | None = None, epoch: str = "last") -> dict[str, Any]:
    """A trained run's test metrics, as `fashionlab evaluate --json` gives them: accuracy, loss, precision,
    recall and F1 per class, the confusion matrix and the most confused pairs."""
    from fashionlab.engine.inference import evaluate_run

    return evaluate_run(run if isinstance(run, Run) else load_run(run, runs_dir), epoch)


def predict(run: str | Run = "latest", index: int | None = None, image: str | Path | None = None,
            runs_dir: str | Path | None = None, epoch: str = "last") -> dict[str, Any]:  # fmt: skip
    """One prediction of a trained run: test image `index`, or an image file (PNG or JPEG); its predicted
    class, the probabilities per class and, for a test image, its true label."""
    from fashionlab.engine.inference import predict_run

    chosen = run if isinstance(run, Run) else load_run(run, runs_dir)
    return predict_run(chosen, index, None if image is None else str(image), epoch)
