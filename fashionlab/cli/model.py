"""Commands about one model: train (or resume) it, evaluate it, predict with it, export it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from fashionlab.cli.common import (
    Comparison,
    ConfigOpt,
    ForceOpt,
    JsonOpt,
    MlflowOpt,
    MlflowUriOpt,
    Overrides,
    RepeatsOpt,
    RunArg,
    advice_lines,
    any_part,
    app,
    check_png,
    complete_runs,
    config_note,
    emit_json,
    err,
    left_out,
    out,
    pick_run,
    said_latest,
    say_advice,
    store,
    tracking_uri,
    write_png,
)
from fashionlab.errors import InputError
from fashionlab.i18n import _
from fashionlab.store.output import shown_path

EpochOpt = Annotated[
    Literal["last", "best"],
    typer.Option(
        "--epoch",
        help="Which epoch's model: last (default: the model as training ended) or best (lowest val_loss, or "
        "early stopping's monitor; its weights are kept beside the model).",
    ),
]


@app.command()
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
            shell_complete=any_part(complete_runs),
        ),
    ] = None,
    repeats: RepeatsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a model, save the run, print its summary table.

    With --repeats N (or repeats: N in the config) it trains the config with N seeds and shows their
    mean ± sd, like a sweep over seed.

    Ctrl-C stops cleanly: the run is marked interrupted with its history; --resume RUN continues it.

    Example: fashionlab train --config configs/adam.yaml epochs=5 lr=0.001
    """
    from fashionlab import usecases
    from fashionlab.views.progress import TrainProgressBars

    if resume and (config or overrides):
        raise InputError("--resume takes the run's own config; leave out --config and overrides")
    uri, extra = tracking_uri(mlflow, mlflow_uri), ["tensorboard=true"] if tensorboard else []
    if resume:
        with TrainProgressBars(err) as bars:
            return show_trained(usecases.resume(store().load(resume), bars, uri), as_json)
    from fashionlab.config import load_config

    cfg = load_config(config, [*(overrides or []), *extra])
    if (repeats or cfg.repeats) > 1:  # several seeds: the same as a sweep over them
        return _repeats(
            config, [*(overrides or []), *extra, *([f"repeats={repeats}"] if repeats else [])], uri, as_json
        )
    config_note(config)
    usecases.check_mlflow(uri)
    from fashionlab.data import split_counts

    with TrainProgressBars(err, [*advice_lines([cfg]), split_counts(cfg).sentence()]) as bars:
        show_trained(usecases.train(cfg, store(), bars, uri), as_json)


def _repeats(config: Path | None, items: list[str], mlflow: str | None, as_json: bool) -> None:
    """train --repeats N: the config with N seeds, trained and shown as a sweep over them."""
    from fashionlab.cli.experiments import Executor, show_swept, sweep_plan
    from fashionlab.experiments import plan

    config_note(config)
    runs, view = store(), Comparison("test_accuracy", "table", False, False, None)
    the_plan = plan.expand([str(config)] if config else [], items)
    ahead = plan.preview(the_plan, runs, False)
    say_advice([t.config for t in the_plan.trials])
    show_swept(sweep_plan(the_plan, runs, ahead, Executor(), False, mlflow, view, None), view, as_json, None, False)


def show_trained(trained: Any, as_json: bool) -> None:
    """A trained run on the terminal: what went to MLflow, its summary table (or JSON), where it is."""
    from fashionlab.views import tables

    result = trained.result
    if trained.logged is not None:
        err.print(trained.logged.sentence(), markup=False)
    if as_json:
        emit_json({"run": result.run.id, "summary": result.summary, "test": result.test})
        return
    backend, stopped = str(result.run.info.backend), result.run.info.stopped_early
    out.print(tables.train_table(trained.results, result.summary, backend, stopped))
    err.print(_("Saved {path}").format(path=f"{result.run.path}/"), markup=False)


@app.command()
def evaluate(
    run: RunArg = None,
    epoch: EpochOpt = "last",
    plot: Annotated[Path | None, typer.Option("--plot", help="Save the confusion matrix to this PNG.")] = None,
    as_json: JsonOpt = False,
    force: ForceOpt = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Say what precision, recall, F1 and specificity are, with one class's counts."),
    ] = False,
) -> None:
    """Test loss and accuracy, per-class precision/recall/F1/specificity, confusion matrix.

    Example: fashionlab evaluate --plot confusion.png
    """
    from fashionlab.engine.inference import evaluate_run
    from fashionlab.views import tables

    check_png(plot, force)
    result = evaluate_run(chosen := pick_run(run), epoch)
    if plot:
        from fashionlab.views import plots

        write_png(plot, plots.confusion_png(result), force)
    if as_json:
        emit_json(result)
    else:
        out.print(tables.evaluate_tables(result))
        if explain:
            from fashionlab.views.metrics_words import definitions

            for line in definitions(result):
                out.print(line, markup=False)
    said_latest(run, chosen)


@app.command()
def predict(
    run: RunArg = None,
    epoch: EpochOpt = "last",
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            "-i",
            help="Test images: N (0-9999, fewer with a config's classes), a range A:B (B not included) or A,B,C.",
        ),
    ] = None,
    image: Annotated[
        list[Path] | None,
        typer.Option("--image", help="A PNG or JPEG of any size, or a folder of them; repeat for several."),
    ] = None,
    run_option: Annotated[
        str | None,
        typer.Option("--run", help="The same as RUN (kept for older scripts).", shell_complete=any_part(complete_runs)),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Save the image beside its probability bars to this PNG; several: the grid."),
    ] = None,
    errors: Annotated[
        int | None,
        typer.Option("--errors", min=1, max=30, help="The N test images the model gets wrong most confidently."),
    ] = None,
    fmt: Annotated[
        Literal["table", "csv", "json"], typer.Option("--format", help="How several images are shown.")
    ] = "table",
    as_json: JsonOpt = False,
    force: ForceOpt = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="With --index N: the tutorial's code, line by line, with this run's values."),
    ] = False,
) -> None:
    """Classify images: for one, the predicted class, every class's probability and the truth; for
    several (--index 0:100, a folder, several --image), a row each and the accuracy over them.

    Examples: fashionlab predict --index 10 --plot pred.png · fashionlab predict RUN --index 0:100 ·
    fashionlab predict --image photos/ --format csv
    """
    from fashionlab import usecases
    from fashionlab.views import tables

    check_png(plot, force)
    if not one_image(index, image, errors, run, run_option):
        _predict_many(run or run_option, index, image, epoch, plot, "json" if as_json else fmt, errors, force)
        return

    number = int(index) if index is not None else None
    found = usecases.predict(pick_run(run or run_option), number, str(image[0]) if image else None, epoch)
    if plot:
        from fashionlab.views import plots

        write_png(plot, plots.prediction_png(found.result), force)
    if as_json:
        emit_json(found.to_json())
    else:
        out.print(tables.prediction_view(found.result, color=out.color_system is not None, columns=out.width))
        if explain and found.result.get("index") is not None:
            from fashionlab.config import run_config
            from fashionlab.views.metrics_words import tutorial_code

            for line in tutorial_code(found.result, run_config(found.run)):
                out.print(line, markup=False)
        warn_chance(found.at_chance)
    said_latest(run or run_option, found.run)


def one_image(index: str | None, image: list[Path] | None, errors: int | None, run: str | None,
              run_option: str | None) -> bool:  # fmt: skip
    """Whether predict's options name one image (else several); two ways of naming images, or two runs,
    are refused."""
    if sum([index is not None, bool(image), errors is not None]) != 1:
        raise InputError(
            "give one of --index N (test images: N, A:B or A,B,C), --image FILE (or a folder) or --errors N"
        )
    if run and run_option and run != run_option:
        raise InputError(f"RUN {run} and --run {run_option} name two runs; give one")
    if index is not None:
        return re.fullmatch(r"-?\d+", index) is not None
    return bool(image) and len(image or []) == 1 and not (image or [])[0].is_dir()


def warn_chance(sentence: str | None) -> None:
    if sentence:
        said = _("Warning: this model is at chance, so its answers are guesses.")
        err.print(f"{said} {sentence}", style="yellow", markup=False)


def _predict_many(
    run: str | None, index: str | None, images: list[Path] | None, epoch: str, plot: Path | None, fmt: str,
    errors: int | None = None, force: bool = False,
) -> None:  # fmt: skip
    from fashionlab import usecases
    from fashionlab.views import compare, plots, tables

    files = [str(p) for p in images] if images else None
    found = usecases.predict_many(pick_run(run), index, files, epoch, errors, bool(plot))
    result = found.result
    if plot:
        if len(result["predictions"]) > plots.MAX_GRID:
            raise InputError(
                f"--plot draws at most {plots.MAX_GRID} images in a grid, not {len(result['predictions'])}; "
                "pick fewer with --index A:B"
            )
        write_png(plot, plots.prediction_grid_png(result["predictions"]), force)
        for row in result["predictions"]:
            row.pop("pixels", None)
    if fmt == "json":
        emit_json(found.to_json())
    elif fmt == "csv":
        typer.echo(compare.records_csv(tables.prediction_records(result)), nl=False)
    else:
        view, dropped = tables.predictions_table(result, out.width)
        out.print(view)
        left_out(dropped, out.width, "--format csv|json")
    warn_chance(found.at_chance)
    said_latest(run, found.run)


@app.command()
def export(
    run: RunArg = None,
    epoch: EpochOpt = "last",
    fmt: Annotated[
        Literal["savedmodel", "onnx", "tflite"], typer.Option("--format", help="What to export it as.")
    ] = "savedmodel",
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write it. Default: inside the run.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a trained model as a TensorFlow SavedModel, ONNX or TFLite file (as installed packages allow).

    Example: fashionlab export --format onnx --out model.onnx
    """
    from fashionlab.engine.export import export_run

    target = export_run(chosen := pick_run(run), fmt, out_path, epoch)
    said_latest(run, chosen)
    err.print(_("Saved {path}").format(path=shown_path(target)), markup=False)
    if as_json:
        emit_json({"run": chosen.id, "format": fmt, "epoch": epoch, "path": str(target)})
    else:
        typer.echo(shown_path(target))
