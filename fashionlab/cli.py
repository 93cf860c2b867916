"""The `fashionlab` command: parse, call one library function, render. Nothing else.

TensorFlow/Keras/JAX are imported only inside the commands that train or load a model, so `--help`,
`runs` and config errors answer at once.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    pass

from fashionlab import __version__, report
from fashionlab.display import RichProgress, SweepDisplay, err
from fashionlab.errors import ConfigError, FashionlabError, RunNotFound
from fashionlab.runs import default_runs_dir, list_runs, load_run, write_atomic

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="Train Keras classifiers on Fashion-MNIST from small YAML configs, and compare what changed.",
    epilog="Examples: fashionlab train --config configs/adam.yaml epochs=5 · fashionlab predict --index 10",
)
PIPE_WIDTH = 220  # tables piped to a file or another program are not squeezed to 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH)
state: dict[str, Any] = {"debug": False, "runs_dir": None}

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn a FashionlabError into `Error: ...` lines on stderr and its exit code (a traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FashionlabError as exc:
            if state["debug"]:
                raise
            problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            for problem in problems:
                err.print(f"Error: {problem}", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug or an environment problem: one line, the traceback with --debug
            if state["debug"]:
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            err.print(f"Error: {exc.__class__.__name__}: {first} (run with --debug for the traceback)", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def runs_dir() -> Path:
    return Path(state["runs_dir"]) if state["runs_dir"] else default_runs_dir()


def show_table(table: Any) -> None:
    """Print a Rich renderable, or a long listing that report.py already laid out as plain text."""
    if isinstance(table, str):
        typer.echo(table)
    else:
        out.print(table)


def complete_runs(incomplete: str) -> list[str]:
    """Shell completion for run ids (typer calls it; it reads run.json files only)."""
    return [r.id for r in list_runs(runs_dir()) if r.id.startswith(incomplete) or incomplete in r.id]


def complete_sweeps(incomplete: str) -> list[str]:
    folder = runs_dir() / "sweeps"
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return [n for n in names if incomplete in n]


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def write_png(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    err.print(f"Saved {path}")


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"fashionlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    runs: Annotated[
        Path | None,
        typer.Option("--runs-dir", envvar="FASHIONLAB_RUNS", help="Where runs are stored.", show_default="runs"),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Train Keras classifiers on Fashion-MNIST from small YAML configs, and compare what changed."""
    state["debug"] = debug
    state["runs_dir"] = runs


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config (see configs/). Default: the TensorFlow tutorial model."),
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="Overrides key=value: epochs=5, lr=0.01, optimizer=sgd, layers.1.units=64, optimizer.momentum=0.9",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of tables.")]
RunArg = Annotated[
    str | None,
    typer.Argument(
        help="Run id, a unique part of it, or 'latest' (default).", show_default=False, autocompletion=complete_runs
    ),
]


@app.command()
@handle_errors
def data(
    grid: Annotated[
        Path | None, typer.Option("--grid", help="Save a labelled 5x5 grid of training images to this PNG.")
    ] = None,
    download: Annotated[
        bool, typer.Option("--download", help="Download the data into ~/.keras/datasets/fashion-mnist.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Only verify the data; exit 0 if it is there and intact.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the data set: shapes, dtypes, class names and per-class counts.

    Example: fashionlab data --grid samples.png
    """
    from fashionlab import data as fdata

    if download:
        err.print(f"Downloaded and verified {fdata.download()}")
    summary = fdata.summarize()
    if check:
        err.print(f"Fashion-MNIST found and verified in {summary.directory}")
        return
    if grid:
        from fashionlab import plots

        (x, y), _ = fdata.load_data()
        write_png(grid, plots.grid_png(x, y))
    if as_json:
        emit_json({"directory": summary.directory, "class_names": summary.class_names, "splits": summary.splits})
    else:
        out.print(report.data_table(summary))


@app.command()
@handle_errors
def show(
    config: ConfigOpt = None,
    overrides: Overrides = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Draw the neurons and connections to this PNG.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the network: input, each layer's output shape, parameters and activation.

    Example: fashionlab show --config configs/tiny.yaml --draw net.png
    """
    from fashionlab.config import load_config
    from fashionlab.model import from_logits, layer_rows

    cfg = load_config(config, overrides or [])
    rows = layer_rows(cfg)
    try:
        logits: bool | None = from_logits(cfg)
    except ConfigError:
        logits = None
    labels = "integer" if cfg.loss.sparse else "one-hot"
    if draw:
        from fashionlab import plots

        write_png(draw, plots.network_png(cfg))
    if as_json:
        emit_json(
            {
                "name": cfg.name,
                "input_shape": cfg.input_shape,
                "layers": [vars(r) for r in rows],
                "total_params": sum(r.params for r in rows),
                "labels": labels,
                "from_logits": logits,
            }
        )
    else:
        out.print(report.network_table(rows, cfg, labels, logits))


@app.command()
@handle_errors
def train(
    config: ConfigOpt = None,
    overrides: Overrides = None,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also write TensorBoard logs into the run (same as tensorboard=true).")
    ] = False,
    mlflow: MlflowOpt = False,
    mlflow_uri: MlflowUriOpt = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Continue this interrupted or failed run from its last finished epoch.",
            autocompletion=complete_runs,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a model, save the run, print its summary table.

    Ctrl-C stops cleanly: the run is marked interrupted with its history; --resume RUN continues it.

    Example: fashionlab train --config configs/adam.yaml epochs=5 lr=0.001
    """
    from fashionlab.errors import InputError

    if resume and (config or overrides):
        raise InputError("--resume takes the run's own config; leave out --config and overrides")
    from fashionlab import train as ftrain

    if resume:
        run = load_run(runs_dir(), resume)
        with RichProgress() as progress:
            result = ftrain.resume(run, progress)
    else:
        from fashionlab.config import load_config

        cfg = load_config(config, [*(overrides or []), *(["tensorboard=true"] if tensorboard else [])])
        with RichProgress() as progress:
            result = ftrain.train(cfg, runs_dir(), progress)
    log_to_mlflow(mlflow, mlflow_uri, [result.run])
    if as_json:
        emit_json({"run": result.run.id, "summary": result.summary, "test": result.test})
    else:
        out.print(report.train_table(result.run.id, result.summary, result.test, str(result.run.info.get("backend"))))
        err.print(f"Saved {result.run.path}/")


@app.command()
@handle_errors
def evaluate(
    run: RunArg = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Save the confusion matrix to this PNG.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Test loss and accuracy, per-class precision/recall/F1/specificity, confusion matrix.

    Example: fashionlab evaluate --plot confusion.png
    """
    from fashionlab.train import evaluate_run

    result = evaluate_run(load_run(runs_dir(), run, need_model=True))
    if plot:
        from fashionlab import plots

        write_png(plot, plots.confusion_png(result))
    if as_json:
        emit_json(result)
    else:
        out.print(report.evaluate_tables(result))


@app.command()
@handle_errors
def predict(
    index: Annotated[int | None, typer.Option("--index", "-i", help="Index of a test image (0-9999).")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="A PNG or JPEG of any size.")] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", help="Run id or a unique part of it. Default: the latest.", autocompletion=complete_runs),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Save the image beside its probability bars to this PNG.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Classify one image: the predicted class, every class's probability, the truth.

    Example: fashionlab predict --index 10 --plot pred.png
    """
    from fashionlab.errors import InputError

    if (index is None) == (image is None):
        raise InputError("give either --index N (a test image) or --image FILE")
    from fashionlab.train import predict_run

    result = predict_run(load_run(runs_dir(), run, need_model=True), index, str(image) if image else None)
    if plot:
        from fashionlab import plots

        write_png(plot, plots.prediction_png(result))
    if as_json:
        emit_json({k: v for k, v in result.items() if k != "pixels"})
    else:
        out.print(report.prediction_view(result, color=out.color_system is not None))


@app.command("runs")
@handle_errors
def runs_cmd(as_json: JsonOpt = False) -> None:
    """List runs with their status and key metrics; broken run directories are shown as broken.

    Example: fashionlab runs --json
    """
    rows = [report.run_row(r) for r in list_runs(runs_dir())]
    if as_json:
        emit_json(rows)
    elif not rows:
        err.print(f"No runs yet in {runs_dir()}/; train one with 'fashionlab train'.")
    else:
        show_table(report.runs_table(rows))


@app.command("report")
@handle_errors
def lab_report(
    runs: Annotated[
        list[str] | None,
        typer.Argument(help="Run ids or unique parts. Default: every run.", autocompletion=complete_runs),
    ] = None,
    sweep_id: Annotated[
        str | None, typer.Option("--sweep", help="Report on the trials of this sweep.", autocompletion=complete_sweeps)
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Where to write it.")] = Path("report.md"),
    as_html: Annotated[bool, typer.Option("--html", help="One self-contained HTML file instead of Markdown.")] = False,
    sort: SortOpt = "best_val_accuracy",
) -> None:
    """Write a lab report: what was run, the table, curves, confusion matrix, predictions, observations.

    Example: fashionlab report --sweep sweep-1a2b3c4d --out report.html --html
    """
    from fashionlab import labreport

    chosen, _, _ = choose_runs(runs, sweep_id, "all")
    chosen = [r for r in chosen if not r.problem]
    if sort not in report.SORT_KEYS:
        from fashionlab.errors import InputError

        raise InputError(f"--sort {sort} is not a metric; use one of {', '.join(report.SORT_KEYS)}")
    sections = labreport.build(chosen, sort)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    (labreport.to_html if as_html else labreport.to_markdown)(sections, out_file)
    err.print(f"Saved {out_file}")


@app.command()
@handle_errors
def schema() -> None:
    """Print the config's JSON Schema, for editors that complete and check YAML keys.

    Example: fashionlab schema > fashionlab.schema.json  (configs/ point at it on their first line)
    """
    from fashionlab.config import json_schema

    emit_json(json_schema())


@app.command()
@handle_errors
def export(
    run: RunArg = None,
    fmt: Annotated[str, typer.Option("--format", help="savedmodel, onnx or tflite.")] = "savedmodel",
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write it. Default: inside the run.")
    ] = None,
) -> None:
    """Export a trained model as a TensorFlow SavedModel, ONNX or TFLite file (as installed packages allow).

    Example: fashionlab export --format onnx --out model.onnx
    """
    from fashionlab.train import export_run

    target = export_run(load_run(runs_dir(), run, need_model=True), fmt, out_path)
    err.print(f"Saved {target}")
    typer.echo(str(target))


SweepItems = Annotated[
    list[str] | None,
    typer.Argument(
        help="Axes KEY=VALUES and fixed overrides KEY=VALUE. Values: a,b,c or [a,b,c]; "
        "range(start,stop[,step]) excludes stop (as Python and Hydra); logspace(a,b,n) gives n values "
        "from 10^a to 10^b; choice(a,b,c) is a,b,c. A list value is written [[28,28],[28,28,1]].",
        show_default=False,
    ),
]
MlflowOpt = Annotated[
    bool, typer.Option("--mlflow", help="Also log the run(s) to MLflow: params, per-epoch metrics, figures, model.")
]
MlflowUriOpt = Annotated[
    str | None,
    typer.Option("--mlflow-uri", help="MLflow tracking URI. Default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db."),
]


def log_to_mlflow(enabled: bool, uri: str | None, runs: list[Any], group: str | None = None) -> None:
    if not enabled:
        return
    from fashionlab import tracking

    uri = uri or tracking.default_uri()
    with tracking.quiet():
        tracking.log_runs(runs, uri, group)
    err.print(f"Logged {len(runs)} run(s) to MLflow at {uri}" + (f" under {group}" if group else ""))


ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="local (processes on this machine) or ray (Ray tasks, local or a cluster).")
]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster to join (ray start --head prints it). Default: a local Ray."),
]
CpusOpt = Annotated[float, typer.Option("--cpus-per-trial", min=0.01, help="Ray: CPUs each trial declares.")]
GpusOpt = Annotated[
    float, typer.Option("--gpus-per-trial", min=0.0, help="Ray: GPUs each trial declares; 0.25 puts four on one GPU.")
]


def ray_options(executor: str, address: str | None, cpus: float, gpus: float) -> Any:
    from fashionlab.errors import InputError

    if executor not in ("local", "ray"):
        raise InputError(f"--executor {executor} is not known; use local or ray")
    if executor == "local":
        if address:
            raise InputError("--address needs --executor ray")
        return None
    from fashionlab.cluster import RayOptions

    return RayOptions(address, cpus, gpus)


SortOpt = Annotated[
    str, typer.Option("--sort", help=f"Order rows by this metric, best first: {', '.join(report.SORT_KEYS)}.")
]
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv, md or json.")]
AllColumnsOpt = Annotated[
    bool, typer.Option("--all-columns", help="Show every config key, not just those that differ.")
]


def render_comparison(
    runs: list[Any], sort: str, fmt: str, all_columns: bool, title: str, axes: list[str] | None = None
) -> None:
    from fashionlab.errors import InputError

    if sort not in report.SORT_KEYS:
        raise InputError(f"--sort {sort} is not a metric; use one of {', '.join(report.SORT_KEYS)}")
    if fmt not in ("table", "csv", "md", "json"):
        raise InputError(f"--format {fmt} is not known; use table, csv, md or json")
    rows = report.sort_rows([report.compare_row(r) for r in runs], sort)
    keys = report.compare_columns(rows, all_columns, axes)
    if fmt == "table":
        show_table(report.compare_table(rows, keys, sort, title))
    elif fmt == "json":
        emit_json(report.compare_records(rows, keys))
    elif fmt == "csv":
        typer.echo(report.records_csv(report.compare_records(rows, keys)), nl=False)
    else:
        typer.echo(report.records_markdown(report.compare_records(rows, keys)), nl=False)


@app.command()
@handle_errors
def sweep(
    items: SweepItems = None,
    config: Annotated[
        list[Path] | None, typer.Option("--config", "-c", help="A config file; repeat to make configs an axis.")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=0,
            help="Trainings at once, each in its own process with its share of the cores. "
            "0 (default): 2 when there are 2+ cores and 2+ trainings (1.2x faster on 2 cores, BENCHMARKS.md), else 1.",
        ),
    ] = 0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the trials and what is already done; train nothing.")
    ] = False,
    resume: Annotated[str | None, typer.Option("--resume", help="Finish the missing trials of this sweep id.")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed trial.")] = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    cpus_per_trial: CpusOpt = 1.0,
    gpus_per_trial: GpusOpt = 0.0,
    mlflow: MlflowOpt = False,
    mlflow_uri: MlflowUriOpt = None,
    sort: SortOpt = "best_val_accuracy",
    all_columns: AllColumnsOpt = False,
    curves: Annotated[
        Path | None, typer.Option("--curves", help="Save the learning curves of all trials to this PNG.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the grid of configs x axes, then one comparison table.

    Trials that differ only in epochs share one training; completed trials are never trained again, so
    rerunning a sweep (or --resume ID) finishes only what is missing.

    Examples: fashionlab sweep epochs=25,100,150 ·
    fashionlab sweep --config configs/adam.yaml optimizer=adam,sgd,rmsprop lr=0.001,0.01
    """
    from fashionlab import sweep as fsweep

    if resume:
        record = fsweep.load_record(runs_dir(), resume)
        files, args = record["config_files"], record["items"]
    else:
        files, args = [str(p) for p in config or []], list(items or [])
    plan = fsweep.expand(files, args)
    done = fsweep.completed_runs(runs_dir())
    pending = [t for t in plan.trials if t.hash not in done]
    shared, separate = plan.epochs_cost(pending)
    groups = plan.groups(pending)
    summary = (
        f"Sweep {plan.sweep_id}: {len(plan.trials)} trials, {len(plan.trials) - len(pending)} already done, "
        f"{len(pending)} to train in {len(groups)} training{'s' if len(groups) != 1 else ''} "
        + (
            f"({shared} epochs instead of {separate}: trials that differ only in epochs share one training)"
            if shared < separate
            else f"({shared} epochs)"
        )
    )
    if dry_run:
        if as_json:
            emit_json(
                {
                    "sweep": plan.sweep_id,
                    "axes": plan.axes,
                    "trials": [{"hash": t.hash, "values": t.values, "done": t.hash in done} for t in plan.trials],
                    "epochs_to_train": shared,
                    "epochs_if_separate": separate,
                }
            )
            return
        from rich.table import Table

        out.print(summary)
        table = Table()
        table.add_column("#", justify="right")
        for key in plan.axes:
            table.add_column(key)
        table.add_column("hash")
        table.add_column("status")
        for i, t in enumerate(plan.trials, 1):
            table.add_row(
                str(i),
                *(report.fmt(t.values.get(k)) for k in plan.axes),
                t.hash,
                f"done ({done[t.hash].id})" if t.hash in done else "to train",
            )
        out.print(table)
        return
    err.print(summary)
    with SweepDisplay(len(plan.trials)) as display:
        for _ in range(len(plan.trials) - len(pending)):
            display.progress.advance(display.trials)
        if jobs == 0:
            jobs = min(2, os.cpu_count() or 1, len(groups))
        ray = ray_options(executor, address, cpus_per_trial, gpus_per_trial)
        result = fsweep.run_sweep(plan, runs_dir(), jobs=jobs, fail_fast=fail_fast, progress=display, ray=ray)
    _, runs = fsweep.sweep_runs(runs_dir(), plan.sweep_id)
    log_to_mlflow(mlflow, mlflow_uri, runs, plan.sweep_id)
    if curves:
        from fashionlab import plots

        write_png(curves, plots.curves_png(runs))
    failed = result.failed
    if as_json:
        emit_json({"sweep": plan.sweep_id, "trials": fsweep.load_record(runs_dir(), plan.sweep_id)["trials"]})
    else:
        render_comparison(runs, sort, "table", all_columns, f"Sweep {plan.sweep_id}", list(plan.axes))
    err.print(
        f"{len(plan.trials) - len(failed)} of {len(plan.trials)} trials completed "
        f"({len(result.skipped)} were already done)"
        + (f", {len(failed)} did not: rerun the same command to retry them" if failed else "")
        + (" (stopped at the first failure: --fail-fast)" if result.stopped_early else "")
        + f". Record: {fsweep.record_path(runs_dir(), plan.sweep_id)}"
    )
    if failed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def search(
    items: Annotated[
        list[str] | None,
        typer.Argument(
            help="Axes to search: loguniform(a,b), uniform(a,b), int(a,b) ranges, or the sweep grammar "
            "(a,b,c | [a,b,c] | range() | logspace() | choice()) for a categorical choice; KEY=VALUE fixes a key.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    trials: Annotated[int, typer.Option("--trials", "-n", min=1, help="Trials the study should hold in the end.")] = 20,
    metric: Annotated[str, typer.Option("--metric", help="What to optimise (best-epoch value).")] = "val_accuracy",
    prune: Annotated[
        str, typer.Option("--prune", help="Stop unpromising trials at epoch ends: none, median or hyperband.")
    ] = "none",
    sampler: Annotated[str, typer.Option("--sampler", help="tpe (default) or random.")] = "tpe",
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    cpus_per_trial: CpusOpt = 1.0,
    gpus_per_trial: GpusOpt = 0.0,
    mlflow: MlflowOpt = False,
    mlflow_uri: MlflowUriOpt = None,
    sort: SortOpt = "best_val_accuracy",
    as_json: JsonOpt = False,
) -> None:
    """Search a space with Optuna (TPE), pruning bad trials early; resumable like a sweep.

    Example: fashionlab search lr=loguniform(1e-4,1e-1) layers.1.units=int(16,256)
    optimizer=choice(adam,sgd) --trials 30 --prune median
    """
    from fashionlab import search as fsearch
    from fashionlab.sweep import sweep_runs

    plan = fsearch.plan_search(str(config) if config else None, list(items or []), metric, sampler, prune)
    ray = ray_options(executor, address, cpus_per_trial, gpus_per_trial)
    fsearch.check_executor(plan, ray)
    err.print(
        f"Search {plan.search_id}: {trials} trials of {', '.join(f'{k}={v}' for k, v in plan.spaces.items())}, "
        f"{plan.sampler} sampler, pruning {plan.prune}, {'maximising' if plan.maximize else 'minimising'} {metric}"
    )
    with SweepDisplay(trials) as display:
        result = fsearch.run_search(plan, runs_dir(), trials, display, ray)
    record, runs = sweep_runs(runs_dir(), plan.search_id)
    log_to_mlflow(mlflow, mlflow_uri, runs, plan.search_id)
    if as_json:
        emit_json({"search": plan.search_id, "best": result.best, "trials": record["trials"]})
    else:
        render_comparison(runs, sort, "table", False, f"Search {plan.search_id}", None)
    counts: dict[str, int] = {}
    for t in record["trials"]:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    best = result.best
    err.print(
        f"{len(record['trials'])} trials ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}; "
        f"{result.new} trained now). "
        + (f"Best {metric} {best['value']:.4f}: {best['values']} (run {best['run_id']}). " if best else "")
        + f"Study: {fsearch.sweeps_dir(runs_dir()) / plan.search_id}.db"
    )


@app.command()
@handle_errors
def compare(
    runs: Annotated[
        list[str] | None,
        typer.Argument(help="Run ids or unique parts. Default: every run.", autocompletion=complete_runs),
    ] = None,
    sweep_id: Annotated[
        str | None, typer.Option("--sweep", help="Compare the trials of this sweep.", autocompletion=complete_sweeps)
    ] = None,
    sort: SortOpt = "best_val_accuracy",
    fmt: FormatOpt = "table",
    all_columns: AllColumnsOpt = False,
) -> None:
    """Compare runs side by side from disk: what differs in their configs, and their metrics.

    Example: fashionlab compare --sweep sweep-1a2b3c4d --sort test_accuracy --format md
    """
    chosen, title, axes = choose_runs(runs, sweep_id, "all")
    render_comparison(chosen, sort, fmt, all_columns, title, axes)


@app.command()
@handle_errors
def curves(
    runs: Annotated[
        list[str] | None,
        typer.Argument(help="Run ids or unique parts. Default: the latest run.", autocompletion=complete_runs),
    ] = None,
    sweep_id: Annotated[
        str | None, typer.Option("--sweep", help="Every trial of this sweep.", autocompletion=complete_sweeps)
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("curves.png"),
) -> None:
    """Overlay learning curves (loss/val_loss, accuracy/val_accuracy) of runs, best epochs marked.

    Example: fashionlab curves 20261127-0142 20261127-0150 --out both.png
    """
    from fashionlab import plots

    chosen, _, _ = choose_runs(runs, sweep_id, "latest")
    write_png(out_file, plots.curves_png(chosen))


def choose_runs(runs: list[str] | None, sweep_id: str | None, default: str) -> tuple[list[Any], str, list[str] | None]:
    """The runs a command works on: a sweep's trials, the named runs, or `default` ("all" or "latest").

    Returns them with a title and, for a sweep, its axes.
    """
    if sweep_id:
        from fashionlab.sweep import sweep_runs

        record, chosen = sweep_runs(runs_dir(), sweep_id)
        return chosen, f"Sweep {record['id']}", list(record.get("axes", {}))
    if runs:
        return [load_run(runs_dir(), r) for r in runs], "Runs", None
    if default == "latest":
        return [load_run(runs_dir())], "Latest run", None
    chosen = list_runs(runs_dir())
    if not chosen:
        raise RunNotFound(f"no runs yet in {runs_dir()}/; train one with 'fashionlab train'")
    return chosen, f"All runs in {runs_dir()}", None


def entry() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    entry()
