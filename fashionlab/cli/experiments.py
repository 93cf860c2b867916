"""Commands that run many trials: sweep (a grid) and search (Optuna), locally or on Ray."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from fashionlab.cli.common import (
    ADVANCED,
    RAY,
    AllColumnsOpt,
    ColumnsOpt,
    Comparison,
    ConfigOpt,
    ConfigsOpt,
    ForceOpt,
    JsonOpt,
    MlflowOpt,
    MlflowUriOpt,
    PerSeedOpt,
    RepeatsOpt,
    SortOpt,
    WideOpt,
    app,
    check_png,
    config_note,
    emit_json,
    err,
    left_out,
    out,
    render_comparison,
    say_advice,
    show_table,
    store,
    tracking_uri,
    write_png,
)
from fashionlab.errors import InputError
from fashionlab.i18n import _

SweepItems = Annotated[
    list[str] | None,
    typer.Argument(
        help="Axes KEY=VALUES and fixed overrides KEY=VALUE. Values: a,b,c or [a,b,c]; "
        "range(start,stop[,step]) excludes stop (as Python and Hydra); logspace(a,b,n) gives n values "
        "from 10^a to 10^b; choice(a,b,c) is a,b,c. A list value is written [[28,28],[28,28,1]].",
        show_default=False,
    ),
]
PopulationOpt = Annotated[
    Literal["auto", "on", "off"],
    typer.Option(
        "--population",
        help="Train the trials of one program (they differ in seed, lr or epochs) together, one compiled "
        "program; auto: on where JAX runs on a GPU or TPU (on a CPU it is slower).",
        rich_help_panel=ADVANCED,
    ),
]
# what experiments.search.METRICS accepts (not imported here: that would import pydantic for --help)
SearchMetric = Literal["val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy", "test_loss"]
CurvesOpt = Annotated[Path | None, typer.Option("--curves", help="Save the learning curves of all trials to this PNG.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="List the trials and what is already done; train nothing.")]
ExecutorOpt = Annotated[
    Literal["local", "ray"],
    typer.Option(
        "--executor", help="local: processes on this machine; ray: Ray tasks, local or a cluster.", rich_help_panel=RAY
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address", help="Ray cluster to join (ray start --head prints it). Default: a local Ray.", rich_help_panel=RAY
    ),
]
CpusOpt = Annotated[
    float, typer.Option("--cpus-per-trial", min=0.01, help="Ray: CPUs each trial declares.", rich_help_panel=RAY)
]
GpusOpt = Annotated[
    float,
    typer.Option(
        "--gpus-per-trial",
        min=0.0,
        help="Ray: GPUs each trial declares; 0.25 puts four on one GPU.",
        rich_help_panel=RAY,
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=0,
        help="Trainings at once, each in its own process with its share of the cores. "
        "0 (default): 2 when there are 2+ cores and 2+ trainings (1.2x faster on 2 cores, BENCHMARKS.md), else 1.",
    ),
]


def ray_options(executor: str, address: str | None, cpus: float, gpus: float) -> Any:
    """RayOptions for --executor ray, None for local; a bad combination is an InputError."""
    if executor == "local":
        if address:
            raise InputError("--address needs --executor ray")
        return None
    from fashionlab.experiments.ray_executor import RayOptions, require_ray

    require_ray()
    return RayOptions(address, cpus, gpus)


def trials_json(record: Any, runs: list[Any]) -> list[dict[str, Any]]:
    """Each trial of the record with its run's metrics, as `compare --format json` gives them."""
    from fashionlab.keys import SORT_KEYS
    from fashionlab.results import summary_of

    by_id = {r.id: r for r in runs}
    out = []
    for trial in record.trials:
        data = trial.to_json()
        run = by_id.get(trial.run_id or "")
        if run is not None:
            row = summary_of(run)
            data["metrics"] = {key: row.value(key) for key in SORT_KEYS}
        out.append(data)
    return out


@app.command()
def sweep(
    items: SweepItems = None,
    config: ConfigsOpt = None,
    jobs: JobsOpt = 0,
    repeats: RepeatsOpt = None,
    population: PopulationOpt = "auto",
    dry_run: DryRunOpt = False,
    resume: Annotated[str | None, typer.Option("--resume", help="Finish the missing trials of this sweep id.")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed trial.")] = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    cpus_per_trial: CpusOpt = 1.0,
    gpus_per_trial: GpusOpt = 0.0,
    mlflow: MlflowOpt = False,
    mlflow_uri: MlflowUriOpt = None,
    sort: SortOpt = "test_accuracy",
    all_columns: AllColumnsOpt = False,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    per_seed: PerSeedOpt = False,
    curves: CurvesOpt = None,
    as_json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Run the grid of configs x axes, then one comparison table.

    Trials that differ only in epochs share one training; completed trials are never trained again, so
    rerunning a sweep (or --resume ID) finishes only what is missing.

    Examples: fashionlab sweep epochs=25,100,150 ·
    fashionlab sweep --config configs/adam.yaml optimizer=adam,sgd,rmsprop lr=0.001,0.01
    """
    from fashionlab.experiments import plan
    from fashionlab.views import compare

    view = Comparison(compare.check_sort(sort), "table", all_columns, wide, columns, per_seed=per_seed)
    check_png(curves, force)
    ray_options(executor, address, cpus_per_trial, gpus_per_trial)  # a bad executor is refused, dry run or not
    runs = store()
    the_plan = _plan(runs, resume, config, [*(items or []), *([f"repeats={repeats}"] if repeats else [])])
    ahead = plan.preview(the_plan, runs, populations_wanted(population))
    say_advice([t.config for t in the_plan.trials])
    if dry_run:
        return show_dry_run(ahead, as_json, wide)
    chosen = Executor(executor, address, cpus_per_trial, gpus_per_trial, jobs)
    swept = sweep_plan(the_plan, runs, ahead, chosen, fail_fast, tracking_uri(mlflow, mlflow_uri), view, curves)
    show_swept(swept, view, as_json, curves, force)


@dataclass
class Executor:
    """--executor, --address, --cpus-per-trial, --gpus-per-trial, --jobs."""

    kind: str = "local"
    address: str | None = None
    cpus: float = 1.0
    gpus: float = 0.0
    jobs: int = 0


def sweep_plan(
    the_plan: Any, runs: Any, ahead: Any, executor: Executor, fail_fast: bool, mlflow: str | None, view: Comparison,
    curves: Path | None,
) -> Any:  # fmt: skip
    """usecases.sweep with the terminal's bars: the preview said first, Ctrl-C said what it left."""
    from fashionlab import usecases
    from fashionlab.views import progress, sweeps

    usecases.check_mlflow(mlflow)  # a missing extra is refused before the sweep says what it will do
    err.print(sweeps.preview_sentence(ahead))
    chosen = pick_executor(executor, ahead.groups)
    done = len(the_plan.trials) - len(ahead.pending)
    with (
        said_if_interrupted(runs, the_plan.sweep_id),
        progress.SweepProgressBars(err, len(the_plan.trials), done=done) as bars,
    ):
        return usecases.sweep(the_plan, runs, executor=chosen, fail_fast=fail_fast, events=bars, ahead=ahead,
                              mlflow=mlflow, sort=view.sort, curves=curves is not None)  # fmt: skip


@contextlib.contextmanager
def said_if_interrupted(runs: Any, group: str) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) of a sweep or search: what it left, and how to finish it, said on the way out."""
    from fashionlab import usecases

    try:
        yield
    except KeyboardInterrupt:
        err.print(usecases.interrupted_sentence(runs, group))
        raise


def show_swept(swept: Any, view: Comparison, as_json: bool, curves: Path | None, force: bool) -> None:
    """A sweep's outcome on the terminal: what went to MLflow, its curves' PNG, its comparison (or JSON), its
    closing line; exit 1 when a trial did not complete."""
    the_plan, record = swept.result.plan, swept.result.record
    if swept.logged is not None:
        err.print(swept.logged.sentence(), markup=False)
    if curves and swept.curves is not None:
        write_png(curves, swept.curves, force)
    if as_json:
        from fashionlab.views import groups

        data: dict[str, Any] = {"sweep": the_plan.sweep_id, "trials": trials_json(record, swept.runs)}
        if swept.results.repeated:
            data["settings"] = groups.grouped_records(swept.results)
        data.update(comparisons=[c.to_json() for c in swept.results.comparisons],
                    findings=[f.to_json() for f in swept.results.findings])  # fmt: skip
        emit_json(data)
    else:
        render_comparison(swept.runs, view, _("Sweep {id}").format(id=the_plan.sweep_id), list(the_plan.axes))
    err.print(swept.sentence, markup=False)
    if swept.failed:
        raise typer.Exit(1)


def show_dry_run(ahead: Any, as_json: bool, wide: bool) -> None:
    """sweep --dry-run: the trials and what is done already, nothing trained."""
    from fashionlab.views import sweeps

    if as_json:
        emit_json(sweeps.dry_run_json(ahead))
        return
    out.print(sweeps.preview_sentence(ahead))
    table, dropped = sweeps.dry_run_table(ahead, None if wide else out.width)
    show_table(table, wide)
    left_out(dropped, out.width, "--wide or --json")


def populations_wanted(choice: str) -> bool:
    """--population: on, off, or auto (on where JAX has a GPU or TPU; a CUDA or TPU plugin is looked for
    first, so a CPU machine does not import JAX to find out)."""
    if choice != "auto":
        return choice == "on"
    import importlib.util

    plugins = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm7_plugin", "libtpu")
    if not any(importlib.util.find_spec(p) for p in plugins):
        return False
    from fashionlab.engine.backend import accelerator

    return accelerator()


def _plan(runs: Any, resume: str | None, config: list[Path] | None, items: list[str]) -> Any:
    """The sweep's plan: a recorded sweep's again (--resume), or the configs x items given."""
    from fashionlab.experiments import plan

    if resume:
        record = runs.load_record(resume)
        return plan.expand(record.config_files, record.items)
    config_note(*(config or []))
    return plan.expand([str(p) for p in config or []], items)


def pick_executor(executor: Executor, groups: list[Any]) -> Any:
    """The executor the options ask for: Ray tasks, or local processes (jobs 0: the default for here), as
    many as the free memory holds (one line says when --jobs was lowered)."""
    from fashionlab.experiments import executors, ray_executor

    ray = ray_options(executor.kind, executor.address, executor.cpus, executor.gpus)
    if ray:
        return ray_executor.RayExecutor(ray)
    fits, why = executors.jobs_that_fit(executor.jobs or executors.default_jobs(len(groups)), groups)
    if why:
        err.print(why, markup=False)
    return executors.LocalExecutor(fits)


@app.command()
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
    metric: Annotated[
        SearchMetric,
        typer.Option("--metric", help="What to optimise (best-epoch value)."),
    ] = "val_accuracy",
    prune: Annotated[
        Literal["none", "median", "hyperband"],
        typer.Option("--prune", help="Stop unpromising trials at epoch ends."),
    ] = "none",
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            min=1,
            rich_help_panel=ADVANCED,
            help="Ask the sampler for this many trials at a "
            "time (1: each knows every earlier result); with --population on, those of one program train "
            "together.",
        ),
    ] = 1,
    population: PopulationOpt = "auto",
    sampler: Annotated[
        Literal["tpe", "random"], typer.Option("--sampler", help="How Optuna picks the next trial.")
    ] = "tpe",
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    cpus_per_trial: CpusOpt = 1.0,
    gpus_per_trial: GpusOpt = 0.0,
    mlflow: MlflowOpt = False,
    mlflow_uri: MlflowUriOpt = None,
    sort: SortOpt = "test_accuracy",
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    per_seed: PerSeedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Search a space with Optuna (TPE), pruning bad trials early; resumable like a sweep.

    Example: fashionlab search 'lr=loguniform(1e-4,1e-1)' 'layers.1.units=int(16,256)'
    'optimizer=choice(adam,sgd)' --trials 30 --prune median (quoted: parentheses are the shell's)
    """
    from fashionlab import usecases
    from fashionlab.experiments import search as fsearch
    from fashionlab.views import compare, sweeps
    from fashionlab.views.progress import SweepProgressBars

    view = Comparison(compare.check_sort(sort), "table", False, wide, columns, per_seed=per_seed)
    config_note(config)
    the_plan = fsearch.plan_search(str(config) if config else None, list(items or []), metric, sampler, prune)
    ray = ray_options(executor, address, cpus_per_trial, gpus_per_trial)
    runs = store()
    together = batch > 1 and populations_wanted(population) and (population == "on" or (prune == "none" and not ray))
    fsearch.check_search(the_plan, runs, ray, together)
    usecases.check_mlflow(uri := tracking_uri(mlflow, mlflow_uri))
    err.print(sweeps.search_start_sentence(the_plan, trials))
    with said_if_interrupted(runs, the_plan.search_id), SweepProgressBars(err, trials) as bars:
        found = usecases.search(the_plan, runs, trials, events=bars, ray=ray, batch=batch, together=together,
                                mlflow=uri, sort=view.sort)  # fmt: skip
    if found.logged is not None:
        err.print(found.logged.sentence(), markup=False)
    if as_json:
        best = found.result.best.to_json() if found.result.best else None
        emit_json({"search": the_plan.search_id, "best": best, "trials": trials_json(found.result.record, found.runs)})
    else:
        render_comparison(found.runs, view, _("Search {id}").format(id=the_plan.search_id), None)
    err.print(found.sentence, markup=False)
    if found.failed:
        raise typer.Exit(1)
