"""Commands that look at things without training: data, show, runs, compare, curves, report, schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

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
from fashionlab.errors import ConfigError, InputError
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
    from fashionlab import datasets
    from fashionlab.views import tables

    check_png(grid, force)
    if download:
        err.print(f"Downloaded and verified {fdata.download()}", markup=False)
    pick, names = None, None
    if config:
        from fashionlab.config import load_config
        from fashionlab.engine.inputs import resize, select

        config_note(config)
        cfg = load_config(config)

        def pick(x: Any, y: Any) -> Any:
            chosen_x, chosen_y = select(x, y, cfg)
            return resize(chosen_x, cfg.image_hw), chosen_y

        names = cfg.class_names
    dataset = cfg.dataset if config and name is None else datasets.get(name)
    summary = fdata.summarize(dataset, pick, names)
    if check:
        err.print(f"{dataset.title} found and verified in {summary.directory}", markup=False)
        return
    if grid:
        from fashionlab.views import plots

        train, test = dataset.load()
        x, y = train if split == "train" else test
        if pick is not None:
            x, y = pick(x, y)
        write_png(grid, plots.grid_png(x, y, names=summary.class_names), force)
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
    from fashionlab.config import load_config
    from fashionlab.i18n import _
    from fashionlab.network import from_logits, layer_rows
    from fashionlab.views import tables

    config_note(config)
    check_png(draw, force)
    cfg = load_config(config, overrides or [])
    rows = layer_rows(cfg)
    try:
        logits: bool | None = from_logits(cfg)
    except ConfigError:
        logits = None
    labels = _("integer") if cfg.loss.sparse else _("one-hot")
    if draw:
        from fashionlab.views import plots

        write_png(draw, plots.network_png(cfg), force)
    if as_json:
        layers = [vars(r) for r in rows]
        total = sum(r.params for r in rows)
        found = {"name": cfg.name, "input_shape": cfg.input_shape, "layers": layers, "total_params": total,
                 "labels": labels, "from_logits": logits}  # fmt: skip
        if explain:
            from fashionlab.views.explain import explain as in_words

            found["explain"] = in_words(cfg)
        emit_json(found)
    else:
        out.print(tables.network_table(rows, cfg, labels, logits))
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
    from fashionlab.views import compare, report

    sort = compare.check_sort(sort)
    fmt = "json" if as_json else fmt
    as_html = as_html or fmt == "html"
    if fmt != "json":
        report.check_targets(out_file or Path("report.html" if as_html else "report.md"), as_html, force)
    selection = store().select(runs, sweep_id, "all")
    histories: dict[str, Any] = {}
    chosen = [r for r in selection.runs if usable(r, histories, models=fmt != "json")]
    if not chosen:
        from fashionlab.errors import RunError

        raise RunError("no run can go into the report (every one is broken, see the warnings); train one first")
    axes = list(selection.axes or [])
    known = report.summaries(chosen, histories)  # every run read once, for every part
    parts = report_parts(chosen, axes, known) if not runs and not sweep_id else [(selection.title, chosen, axes)]
    if fmt == "json":
        emit_json(report.to_json(parts, sort, known))
        return
    out_file = out_file or Path("report.html" if as_html else "report.md")
    csv_name = report.TABLE_CSV if as_html else f"{out_file.stem}_files/{report.TABLE_CSV}"
    sections = report.build(parts, lambda run: _inspect(run, epoch), sort, csv_name=csv_name, known=known)
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        (report.to_html if as_html else report.to_markdown)(
            sections, out_file, report.full_table_csv(chosen, sort, known), force
        )
    except OSError as exc:
        from fashionlab.errors import StorageError

        raise StorageError(
            f"cannot write the report to {shown_path(out_file)} ({exc.strerror or exc}); free space, fix the "
            "folder's permissions or give --out another place"
        ) from None
    from fashionlab.i18n import _

    err.print(_("Saved {path} (every column of every run: {table})").format(path=shown_path(out_file),
              table=shown_path(csv_name)), markup=False)  # fmt: skip


def report_parts(
    chosen: list[Any], axes: list[str], known: dict[str, Any] | None = None
) -> list[tuple[str, list[Any], list[str]]]:
    """All runs, as one part per sweep (its trials, newest sweep first) and one per task for the rest."""
    from fashionlab.i18n import _
    from fashionlab.results import summary_of
    from fashionlab.views.observations import task_words

    by_id = {r.id: r for r in chosen}
    parts: list[tuple[str, list[Any], list[str]]] = []
    placed: set[str] = set()
    runs_store = store()
    records = [r for r in map(runs_store.find_record, runs_store.sweep_ids()) if r is not None]
    for record in sorted(records, key=lambda r: r.updated, reverse=True):
        mine = [by_id[i] for i in dict.fromkeys(record.run_ids) if i in by_id]  # a run several sweeps used: in each
        if mine:
            what = " ".join(record.items) or ", ".join(record.axes)
            kind = _("Sweep") if record.kind == "sweep" else _("Search")
            parts.append((f"{kind} {record.id}: {what}", mine, list(record.axes)))
            placed.update(r.id for r in mine)
    rest: dict[str, list[Any]] = {}
    for run in chosen:
        if run.id not in placed:
            rest.setdefault((known[run.id] if known and run.id in known else summary_of(run)).task, []).append(run)
    for task, runs in rest.items():
        title = _("Runs of {task}").format(task=task_words(task)) if parts or len(rest) > 1 else _("Runs")
        parts.append((title, runs, []))
    return parts if len(parts) > 1 else [(_("All runs"), chosen, axes)]


def usable(run: Any, histories: dict[str, Any] | None = None, models: bool = True) -> bool:
    """Whether a run can go into a report; a broken one is left out with a warning, not the whole report.
    The history it reads is kept in `histories` (by run id), so the report does not read it again. With
    `models` its config.yaml must be readable too (a Markdown or HTML report rebuilds the best run's model
    from it); the JSON report reads only the copy in run.json, so it does not check 20,000 YAML files."""
    from fashionlab.errors import RunError

    try:
        if run.problem:
            raise RunError(run.problem)
        if models:
            run.check_config()
        history = run.history()
        run.metrics()
        if histories is not None:
            histories[run.id] = history
    except RunError as exc:
        err.print(f"Warning: leaving out run {run.id}: {exc}", markup=False)
        return False
    return True


def _inspect(run: Any, epoch: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The best run's evaluation and its predictions of the first 300 test images, for the report."""
    from fashionlab.engine.inference import evaluate_run, predict_test_images

    return evaluate_run(run, epoch), predict_test_images(run, 300, epoch)


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
