"""Commands about one model: train (or resume) it, evaluate it, predict with it, export it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from fashionlab.cli.common import (
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
    check_tracking,
    complete_runs,
    config_note,
    emit_json,
    err,
    left_out,
    log_to_mlflow,
    out,
    pick_run,
    said_latest,
    store,
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
    from fashionlab.views import tables
    from fashionlab.views.progress import TrainProgressBars

    if resume and (config or overrides):
        raise InputError("--resume takes the run's own config; leave out --config and overrides")
    from fashionlab.experiments.trials import resume_run, train_run

    if resume:
        run = store().load(resume)
        with TrainProgressBars(err) as bars:
            result = resume_run(run, bars)
    else:
        from fashionlab.config import load_config

        cfg = load_config(config, [*(overrides or []), *(["tensorboard=true"] if tensorboard else [])])
        if (repeats or cfg.repeats) > 1:  # several seeds: the same as a sweep over them
            from fashionlab.cli.experiments import sweep

            extra = [f"repeats={repeats}"] if repeats else []
            extra += ["tensorboard=true"] if tensorboard else []
            sweep(items=[*(overrides or []), *extra], config=[config] if config else None, as_json=as_json,
                  mlflow=mlflow, mlflow_uri=mlflow_uri)  # fmt: skip
            return
        config_note(config)
        check_tracking(mlflow, mlflow_uri)
        from fashionlab.data import split_counts

        with TrainProgressBars(err, [*advice_lines([cfg]), split_counts(cfg).sentence()]) as bars:
            result = train_run(cfg, store(), bars)
    log_to_mlflow(mlflow, mlflow_uri, [result.run])
    if as_json:
        emit_json({"run": result.run.id, "summary": result.summary, "test": result.test})
    else:
        from fashionlab.results import collect

        backend, stopped = str(result.run.info.backend), result.run.info.stopped_early
        out.print(tables.train_table(collect([result.run]), result.summary, backend, stopped))
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
    from fashionlab.views import tables

    if sum([index is not None, bool(image), errors is not None]) != 1:
        raise InputError(
            "give one of --index N (test images: N, A:B or A,B,C), --image FILE (or a folder) or --errors N"
        )
    if run and run_option and run != run_option:
        raise InputError(f"RUN {run} and --run {run_option} name two runs; give one")
    check_png(plot, force)
    one = re.fullmatch(r"-?\d+", index) if index is not None else image and len(image) == 1 and not image[0].is_dir()
    if not one:
        _predict_many(run or run_option, index, image, epoch, plot, "json" if as_json else fmt, errors, force)
        return
    from fashionlab.engine.inference import predict_run

    number = int(index) if index is not None else None
    result = predict_run(chosen := pick_run(run or run_option), number, str(image[0]) if image else None, epoch)
    if plot:
        from fashionlab.views import plots

        write_png(plot, plots.prediction_png(result), force)
    chance = at_chance(chosen)
    if as_json:
        emit_json({**{k: v for k, v in result.items() if k != "pixels"}, "at_chance": chance is not None})
    else:
        out.print(tables.prediction_view(result, color=out.color_system is not None, columns=out.width))
        if explain and result.get("index") is not None:
            from fashionlab.config import run_config
            from fashionlab.views.metrics_words import tutorial_code

            for line in tutorial_code(result, run_config(chosen)):
                out.print(line, markup=False)
        warn_chance(chance)
    said_latest(run or run_option, chosen)


def at_chance(run: Any) -> str | None:
    """The sentence that says a run's model learned nothing (its test accuracy is chance), or None."""
    from fashionlab.results import summary_of
    from fashionlab.results.findings import chance
    from fashionlab.views.observations import finding_text

    row = summary_of(run)
    found = chance(row, row.name)
    return finding_text(found[0]) if found else None


def warn_chance(sentence: str | None) -> None:
    if sentence:
        from fashionlab.i18n import _

        said = _("Warning: this model is at chance, so its answers are guesses.")
        err.print(f"{said} {sentence}", style="yellow", markup=False)


def _predict_many(
    run: str | None, index: str | None, images: list[Path] | None, epoch: str, plot: Path | None, fmt: str,
    errors: int | None = None, force: bool = False,
) -> None:  # fmt: skip
    from fashionlab.engine.inference import predict_many
    from fashionlab.views import compare, plots, tables

    chosen = pick_run(run)
    result = predict_many(chosen, index, [str(p) for p in images] if images else None, epoch, errors, bool(plot))
    if plot:
        if len(result["predictions"]) > plots.MAX_GRID:
            raise InputError(
                f"--plot draws at most {plots.MAX_GRID} images in a grid, not {len(result['predictions'])}; "
                "pick fewer with --index A:B"
            )
        write_png(plot, plots.prediction_grid_png(result["predictions"]), force)
        for row in result["predictions"]:
            row.pop("pixels", None)
    chance = at_chance(chosen)
    if fmt == "json":
        emit_json({**result, "at_chance": chance is not None})
    elif fmt == "csv":
        typer.echo(compare.records_csv(tables.prediction_records(result)), nl=False)
    else:
        view, dropped = tables.predictions_table(result, out.width)
        out.print(view)
        left_out(dropped, out.width, "--format csv|json")
    warn_chance(chance)
    said_latest(run, chosen)


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
