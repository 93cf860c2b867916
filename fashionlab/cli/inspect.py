"""Commands that look at things without training: data, show, runs, compare, curves, report, schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from fashionlab.cli.common import (
    AllColumnsOpt,
    ColumnsOpt,
    Comparison,
    ConfigOpt,
    ForceOpt,
    FormatOpt,
    JsonOpt,
    Overrides,
    PerSeedOpt,
    RunsArg,
    SortOpt,
    SweepOpt,
    WideOpt,
    any_part,
    app,
    check_png,
    complete_configs,
    complete_runs,
    config_note,
    emit_json,
    err,
    left_out,
    out,
    render_comparison,
    said_latest,
    say_advice,
    show_table,
    store,
    write_png,
)
from fashionlab.errors import InputError
from fashionlab.store.output import shown_path


@app.command()
def data(
    name: Annotated[
        str | None,
        typer.Argument(help="The data set: fashion_mnist (the default) or digits; --config's when it names one."),
    ] = None,
    grid: Annotated[
        Path | None, typer.Option("--grid", help="Save a labelled 5x5 grid of training images to this PNG.")
    ] = None,
    download: Annotated[
        bool, typer.Option("--download", help="Download the data into ~/.keras/datasets/fashion-mnist.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Only verify the data; exit 0 if it is there and intact.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Only the config's classes, at its image size.", shell_complete=complete_configs
        ),
    ] = None,
    split: Annotated[Literal["train", "test"], typer.Option("--split", help="The images --grid shows.")] = "train",
    as_json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Show the data set: what it is, shapes, dtypes, class names and per-class counts.

    Example: fashionlab data --grid samples.png · fashionlab data --config tiny · fashionlab data digits
    """
    from fashionlab import data as fdata
    from fashionlab import usecases
    from fashionlab.i18n import _
    from fashionlab.views import tables

    check_png(grid, force)
    if download:
        err.print(_("Downloaded and verified {path}").format(path=fdata.download()), markup=False)
    cfg = None
    if config:
        from fashionlab.config import load_config

        config_note(config)
        cfg = load_config(config)
    view = usecases.data(name, cfg)
    dataset, summary = view.dataset, view.summary
    if check:
        err.print(_("{data} found and verified in {path}").format(data=dataset.title, path=summary.directory),
                  markup=False)  # fmt: skip
        return
    if grid:
        from fashionlab.views import plots

        write_png(grid, plots.grid_png(*view.images(split), names=summary.class_names), force)
    if as_json:
        emit_json({"data": dataset.name, "about": " ".join(dataset.about()), "directory": summary.directory,
                   "class_names": summary.class_names, "splits": summary.splits})  # fmt: skip
    else:
        out.print("\n".join(dataset.about()), markup=False)
        out.print(tables.data_table(summary))


@app.command()
def show(
    config: ConfigOpt = None,
    overrides: Overrides = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Draw the neurons and connections to this PNG.")] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Say in words what each layer does, with its shapes and weights.")
    ] = False,
    as_json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Show the network: input, each layer's output shape, parameters and activation; --explain says
    what each layer does and which output neuron is which class.

    Example: fashionlab show --config configs/tiny.yaml --draw net.png
    """
    from fashionlab import usecases
    from fashionlab.config import load_config
    from fashionlab.views import tables

    config_note(config)
    check_png(draw, force)
    net = usecases.network(cfg := load_config(config, overrides or []))
    if draw:
        from fashionlab.views import plots

        write_png(draw, plots.network_png(cfg), force)
    if as_json:
        emit_json(net.to_json(explain))
        return
    out.print(tables.network_table(net.rows, cfg, net.labels, net.from_logits))
    say_advice([cfg], out)
    if explain:
        out.print(tables.explain_view(cfg))


@app.command("runs")
def runs_cmd(wide: WideOpt = False, as_json: JsonOpt = False) -> None:
    """List runs with their status and key metrics; broken run directories are shown as broken.

    Example: fashionlab runs --json
    """
    from fashionlab.views import tables

    rows = [tables.run_row(r) for r in store().runs()]
    if as_json:
        emit_json(rows)
    elif not rows:
        err.print(f"No runs yet in {store().root}/; train one with 'fashionlab train'.", markup=False)
    else:
        table, dropped = tables.runs_table(rows, None if wide else out.width)
        show_table(table, wide)
        left_out(dropped, out.width, "--wide or --json")


@app.command("compare")
def compare_cmd(
    runs: RunsArg = None,
    sweep_id: SweepOpt = None,
    sort: SortOpt = "test_accuracy",
    fmt: FormatOpt = "table",
    all_columns: AllColumnsOpt = False,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    per_seed: PerSeedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare runs side by side from disk: what differs in their configs, and their metrics.

    The table fits the terminal: columns that do not fit are named below it (--wide shows them all).

    Example: fashionlab compare --sweep sweep-1a2b3c4d --sort test_acc --format md
    """
    from fashionlab.views import compare

    view = Comparison(compare.check_sort(sort), fmt, all_columns, wide, columns, as_json, per_seed)
    chosen = store().select(runs, sweep_id, "all")
    render_comparison(chosen.runs, view, chosen.title, chosen.axes)


@app.command()
def curves(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Run ids or unique parts. Default: the latest run.", shell_complete=any_part(complete_runs)
        ),
    ] = None,
    sweep_id: SweepOpt = None,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("curves.png"),
    per_seed: PerSeedOpt = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Overlay learning curves (loss/val_loss, accuracy/val_accuracy) of runs, best epochs marked.

    Example: fashionlab curves 20261127-0142 20261127-0150 --out both.png
    """
    from fashionlab.views import compare, groups, plots

    check_png(out_file, force)
    chosen = store().select(runs, sweep_id, "latest").runs
    if not any(r.history() for r in chosen):
        raise InputError(
            f"{', '.join(r.id for r in chosen)}: no epoch has finished yet, so there are no curves to draw"
        )
    write_png(
        out_file, plots.curves_png(chosen, compare.run_labels(chosen)) if per_seed else groups.curves_png(chosen), force
    )
    if not runs and not sweep_id:
        said_latest(None, chosen[0])
    if as_json:
        emit_json({"path": str(out_file), "runs": [r.id for r in chosen]})


@app.command("report")
def lab_report(
    runs: RunsArg = None,
    sweep_id: SweepOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write it.", show_default="report.md or report.html")
    ] = None,
    as_html: Annotated[bool, typer.Option("--html", help="One self-contained HTML file instead of Markdown.")] = False,
    fmt: Annotated[
        Literal["md", "html", "json"],
        typer.Option("--format", help="md (default), html, or json: the results with every finding's numbers."),
    ] = "md",
    sort: SortOpt = "test_accuracy",
    epoch: Annotated[
        Literal["last", "best"], typer.Option("--epoch", help="The best run's model to evaluate and show.")
    ] = "last",
    force: ForceOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
) -> None:
    """Write a lab report: what was run, the table, curves, confusion matrix, predictions, observations.

    Without --sweep or runs it has one part per sweep (and one per task for the other runs).

    Example: fashionlab report --sweep sweep-1a2b3c4d --out report.html --html
    """
    from fashionlab import usecases
    from fashionlab.i18n import _
    from fashionlab.views import compare

    fmt = "json" if as_json else ("html" if as_html else fmt)
    done = usecases.report(store(), runs, sweep_id, fmt, out_file, epoch, compare.check_sort(sort), force)
    for run_id, why in done.left_out:
        err.print(_("Warning: leaving out run {run}: {why}").format(run=run_id, why=why), markup=False)
    if done.data is not None:
        emit_json(done.data)
    elif done.path is not None and done.table is not None:
        err.print(_("Saved {path} (every column of every run: {table})").format(path=shown_path(done.path),
                  table=shown_path(done.table)), markup=False)  # fmt: skip


@app.command()
def configs(as_json: JsonOpt = False) -> None:
    """List the configs that ship with fashionlab; use one by name: --config adam.

    Example: fashionlab train --config adam epochs=5
    """
    from fashionlab.config.shipped import description, shipped
    from fashionlab.views import tables

    found = [{"name": p.stem, "description": description(p), "path": str(p)} for p in shipped()]
    if as_json:
        emit_json(found)
        return
    table, dropped = tables.configs_table(found, out.width)
    out.print(table)
    left_out(dropped, out.width, "--json")


@app.command()
def cache(
    clear: Annotated[
        bool, typer.Option("--clear", help="Delete the cache's jax/ and data/ (they refill on the next run).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show (or clear) fashionlab's cache: compiled JAX programs and the decoded data set.

    It makes a short run start in seconds; deleting it is always safe. FASHIONLAB_CACHE moves it
    (FASHIONLAB_CACHE=off turns it off); the default is ~/.cache/fashionlab. fashionlab uses and
    clears only a folder it made (it holds fashionlab's CACHEDIR.TAG), and only its jax/ and data/.
    """
    from fashionlab.store import files

    root = files.cache_root()
    if root is None or not root.exists():
        if as_json:
            emit_json({"path": str(root) if root else None, "state": "off" if root is None else "empty", "files": 0,
                       "bytes": 0})  # fmt: skip
        elif root is None:
            out.print("The cache is off (FASHIONLAB_CACHE=off, or no home folder to keep it in).")
        else:
            out.print(f"{root}: empty (it fills on the next run).", markup=False)
        return
    if not files.is_our_cache(root):
        raise InputError(
            f"{root} is not a cache fashionlab made (it has no {files.CACHE_TAG} of fashionlab's), so fashionlab "
            "neither uses nor clears it; point FASHIONLAB_CACHE at a new or empty folder"
        )
    found = files.cache_files(root)
    size = sum(p.lstat().st_size for p in found) / 1e6
    if clear:
        files.clear_cache(root)
    if as_json:
        emit_json({"path": str(root), "state": "cleared" if clear else "present", "files": len(found),
                   "bytes": round(size * 1e6)})  # fmt: skip
    elif clear:
        out.print(f"Cleared {root} ({len(found)} files, {size:.1f} MB, in jax/ and data/).", markup=False)
    else:
        out.print(f"{root}: {len(found)} files, {size:.1f} MB. Clear it with: fashionlab cache --clear", markup=False)


@app.command()
def schema() -> None:
    """Print the config's JSON Schema, for editors that complete and check YAML keys.

    Example: fashionlab schema > fashionlab.schema.json  (shipped configs point at the copy beside them)
    """
    from fashionlab.config import json_schema

    emit_json(json_schema())
