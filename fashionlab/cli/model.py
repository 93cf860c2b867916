"""Commands about one model: train (or resume) it, evaluate it, predict with it, export it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fashionlab.cli.common import (
    ConfigOpt,
    JsonOpt,
    MlflowOpt,
    MlflowUriOpt,
    Overrides,
    RepeatsOpt,
    RunArg,
    advice_lines,
    app,
    complete_runs,
    config_note,
    emit_json,
    err,
    log_to_mlflow,
    out,
    pick_run,
    said_latest,
    store,
    write_png,
)
from fashionlab.errors import InputError
from fashionlab.views import tables
from fashionlab.views.progress import TrainProgressBars

EpochOpt = Annotated[
    str,
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
            autocompletion=complete_runs,
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
    if resume and (config or overrides):
        raise InputError("--resume takes the run's own config; leave out --config and overrides")
    from fashionlab.engine import fit

    if resume:
        run = store().load(resume)
        with TrainProgressBars(err) as bars:
            result = fit.resume(run, bars)
    else:
        from fashionlab.config import load_config

        cfg = load_config(config, [*(overrides or []), *(["tensorboard=true"] if tensorboard else [])])
        if (repeats or cfg.repeats) > 1:  # several seeds: the same as a sweep over them
            from fashionlab.cli.experiments import sweep

            extra = [f"repeats={repeats}"] if repeats else []
            sweep(items=[*(overrides or []), *extra], config=[config] if config else None, as_json=as_json)
            return
        config_note(config)
        with TrainProgressBars(err, advice_lines([cfg])) as bars:
            result = fit.train(cfg, store(), bars)
    log_to_mlflow(mlflow, mlflow_uri, [result.run])
    if as_json:
        emit_json({"run": result.run.id, "summary": result.summary, "test": result.test})
    else:
        backend, stopped = str(result.run.info.get("backend")), result.run.info.get("stopped_early")
        out.print(tables.train_table(result.run.id, result.summary, result.test, backend, stopped))
        err.print(f"Saved {result.run.path}/")


@app.command()
def evaluate(
    run: RunArg = None,
    epoch: EpochOpt = "last",
    plot: Annotated[Path | None, typer.Option("--plot", help="Save the confusion matrix to this PNG.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Test loss and accuracy, per-class precision/recall/F1/specificity, confusion matrix.

    Example: fashionlab evaluate --plot confusion.png
    """
    from fashionlab.engine.inference import evaluate_run

    result = evaluate_run(chosen := pick_run(run), epoch)
    if plot:
        from fashionlab.views import plots

        write_png(plot, plots.confusion_png(result))
    if as_json:
        emit_json(result)
    else:
        out.print(tables.evaluate_tables(result))
    said_latest(run, chosen)


@app.command()
def predict(
    run: RunArg = None,
    epoch: EpochOpt = "last",
    index: Annotated[
        int | None, typer.Option("--index", "-i", help="Index of a test image: 0-9999 (fewer with a config's classes).")
    ] = None,
    image: Annotated[Path | None, typer.Option("--image", help="A PNG or JPEG of any size.")] = None,
    run_option: Annotated[
        str | None,
        typer.Option("--run", help="The same as RUN (kept for older scripts).", autocompletion=complete_runs),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Save the image beside its probability bars to this PNG.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Classify one image: the predicted class, every class's probability, the truth.

    Example: fashionlab predict --index 10 --plot pred.png  (or: fashionlab predict RUN --index 10)
    """
    if (index is None) == (image is None):
        raise InputError("give either --index N (a test image) or --image FILE")
    if run and run_option and run != run_option:
        raise InputError(f"RUN {run} and --run {run_option} name two runs; give one")
    from fashionlab.engine.inference import predict_run

    result = predict_run(chosen := pick_run(run or run_option), index, str(image) if image else None, epoch)
    if plot:
        from fashionlab.views import plots

        write_png(plot, plots.prediction_png(result))
    if as_json:
        emit_json({k: v for k, v in result.items() if k != "pixels"})
    else:
        out.print(tables.prediction_view(result, color=out.color_system is not None))
    said_latest(run or run_option, chosen)


@app.command()
def export(
    run: RunArg = None,
    epoch: EpochOpt = "last",
    fmt: Annotated[str, typer.Option("--format", help="savedmodel, onnx or tflite.")] = "savedmodel",
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write it. Default: inside the run.")
    ] = None,
) -> None:
    """Export a trained model as a TensorFlow SavedModel, ONNX or TFLite file (as installed packages allow).

    Example: fashionlab export --format onnx --out model.onnx
    """
    from fashionlab.engine.inference import export_run

    target = export_run(chosen := pick_run(run), fmt, out_path, epoch)
    said_latest(run, chosen)
    err.print(f"Saved {target}")
    typer.echo(str(target))
