"""The dashboard's pages: server-rendered HTML from the templates, with what each page's script needs (curves,
live updates) as one JSON block. Every word comes from the catalog (`--lang es`), every verdict and finding
from the results model, as in the terminal and the report."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup, escape

from fashionlab.i18n import _, class_word, grouped, language
from fashionlab.store import Run, RunStatus
from fashionlab.ui import readers

STATUSES = [s.value for s in RunStatus]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fashionlab.ui", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    from fashionlab.views.tables import status_word

    env.globals.update(_=_, status_word=status_word, num=_num)
    return env


def _num(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def base(title: str, page: str, folder: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """What every page's frame shows."""
    return {"title": title, "page": page, "folder": folder, "lang": language(), "root": "", "static": "/static",
            "data": data or {}}  # fmt: skip


def runs_page(index: readers.RunIndex, query: dict[str, Any]) -> dict[str, Any]:
    """The runs page: one page of the runs, filtered and sorted as the query says."""
    from fashionlab.views.tables import age

    rows = index.rows()
    only = None
    record = index.record_named(query["sweep"]) if query["sweep"] else None
    if record is not None:
        only = set(record.run_ids) | _running_trials(index, record)
    found = readers.page_of(rows, query["sort"], query["order"] == "desc", query["status"], query["q"], only,
                            query["page"])  # fmt: skip
    query["page"] = found.page
    from fashionlab.views.observations import seconds

    for row in found.rows:
        row["started_words"] = age(row.get("started")) if row.get("started") else ""
        row["time_words"] = seconds(row["seconds"]) if isinstance(row.get("seconds"), int | float) else ""
    columns = [("id", _("id")), ("name", _("label")), ("status", _("status")), ("epochs", _("epochs")),
               ("val_accuracy", _("best val_acc")), ("test_accuracy", _("test acc")), ("test_loss", _("test loss")),
               ("seconds", _("time")), ("started", _("started"))]  # fmt: skip

    def link(**changes: Any) -> str:
        return "/?" + urlencode({k: v for k, v in {**query, **changes}.items() if v not in ("", None)})

    def sort_link(key: str) -> str:
        order = "asc" if key == query["sort"] and query["order"] == "desc" else "desc"
        return link(sort=key, order=order, page=1)

    return {
        **base(_("Runs"), "runs", str(index.store.root), {"live": "runs"}),
        "query": query, "statuses": STATUSES, "records": _records(index), "page_rows": found.rows,
        "columns": columns, "pages": found.pages, "sort_link": sort_link, "page_link": lambda p: link(page=p),
        "count_words": _("{shown} of {total} runs").format(shown=grouped(found.total), total=grouped(len(rows))),
        "page_words": _("page {page} of {pages}").format(page=found.page, pages=found.pages),
        "empty_words": _("No runs here yet; train one with 'fashionlab train'.") if not rows else _("No run matches."),
    }  # fmt: skip


def _records(index: readers.RunIndex) -> list[Any]:
    found = [r for r in map(index.store.find_record, index.store.sweep_ids()) if r is not None]
    return sorted(found, key=lambda r: r.updated, reverse=True)


def _running_trials(index: readers.RunIndex, record: Any) -> set[str]:
    """The runs a running sweep is training now (its record names a trial's run when the trial ends)."""
    if record.state != "running":
        return set()
    hashes = {t.hash for t in record.trials if t.hash}
    return {r.id for r in index.store.runs_with_hash(hashes) if r.status == RunStatus.RUNNING}


def sweeps_page(index: readers.RunIndex) -> dict[str, Any]:
    from fashionlab.views.tables import age

    rows = []
    for record in _records(index):
        rows.append({
            "id": record.id, "kind_words": _("Sweep") if record.kind == "sweep" else _("Search"),
            "state_words": _state_words(record.state), "trials": len(record.trials),
            "what": " ".join(record.items) or ", ".join(record.axes), "updated_words": age(record.updated),
        })  # fmt: skip
    return {**base(_("Sweeps and searches"), "sweep-list", str(index.store.root)), "records": rows}


def _state_words(state: str) -> str:
    words = {"running": _("running"), "completed": _("completed"), "interrupted": _("interrupted"),
             "stopped": _("stopped"), "completed with failures": _("completed with failures")}  # fmt: skip
    return words.get(state, state)


def sweep_page(index: readers.RunIndex, record: Any, runs: list[Run], sort: str = "test_accuracy") -> dict[str, Any]:
    """A sweep's or search's comparison (`runs`: its trials' runs): its table with the verdicts, its curves,
    its findings, calibration."""
    from fashionlab.results import collect
    from fashionlab.views import compare, groups, observations, report, tables

    kind = _("Sweep") if record.kind == "sweep" else _("Search")
    title = f"{kind} {record.id}"
    what = " ".join(record.items) or ", ".join(record.axes)
    lead = _("{what}: {n} trials, {state}.").format(what=what, n=len(record.trials), state=_state_words(record.state))
    page = {**base(title, "sweep", str(index.store.root)), "lead": lead, "table": None, "findings": [],
            "calibration": None, "run_links": [], "note": "", "loss_note": "", "curves_note": ""}  # fmt: skip
    res = collect(runs, sort, list(record.axes)) if runs else None
    if res is not None:
        if res.repeated:
            page["table"], page["note"] = groups.grouped_cells(res), groups.legend(res)
        else:
            axes = [k for k in res.keys if k != "name"]
            page["table"], page["note"] = compare.compact_records(res, res.keys, axes), compare.legend(res)
        page["loss_note"] = tables.loss_words()
        page["findings"] = observations.observations(res)
        page["run_links"] = [(row.run, f"{res.labels.get(row.run, row.run)} · {row.run}") for row in res.runs]
        said, models = report.calibration_words(res)
        if models:  # the diagram itself is drawn by its own request (matplotlib: a second), not the page's
            page["calibration"] = {"text": said, "png": f"/api/sweep/{quote(record.id)}/calibration.png"}
    live = record.state == "running"
    page["curves_note"] = (
        _("Each setting's mean over its seeds with a band of ± one sd.") if res is not None and res.repeated
        else _("One line per trial.")
    ) + " " + _("Click a legend entry to hide it; hover for values.")  # fmt: skip
    page["data"] = {"curves": _curves(runs, res), "live": "sweep" if live else None, "sweep": record.id,
                    "words": _chart_words()}  # fmt: skip
    return page


def _curves(runs: list[Run], res: Any) -> dict[str, Any]:
    """The histories the charts draw: one series per run, or per setting (its runs, to average) with repeats."""
    labels = res.labels if res is not None else {}
    series = [{"id": r.id, "label": labels.get(r.id, r.id), "rows": _history(r)} for r in runs]
    settings = []
    if res is not None and res.repeated:
        settings = [{"label": s.describe(), "runs": [row.run for row in s.runs]} for s in res.settings]
    return {"series": series, "settings": settings}


def _history(run: Run) -> list[dict[str, float]]:
    try:
        return run.history()
    except Exception:  # a broken history.csv: the run has no curve, the page still shows
        return []


def _chart_words() -> dict[str, str]:
    return {"epoch": _("epoch"), "loss": _("loss"), "val_loss": _("val_loss"), "accuracy": _("accuracy"),
            "val_accuracy": _("val_accuracy"), "mean": _("mean"), "running": _("Training: epoch {epoch} of {epochs}"),
            "done": _("Finished: the page shows the final results.")}  # fmt: skip


def run_page(index: readers.RunIndex, run: Run) -> dict[str, Any]:
    """One run: its facts, curves, confusion matrix (cells open their images), predictions, errors, network."""
    from fashionlab.config import run_config
    from fashionlab.views.tables import age, status_word

    row = readers.row_of(run)
    page = {**base(run.id, "run", str(index.store.root)), "problem": row.get("problem"), "confusion": None,
            "network": None, "config_yaml": None, "evidence_missing": None, "tutorial_grid": None, "inside": None,
            "cell_title": _cell_title, "tile": _tile_for(run)}  # fmt: skip
    page["lead"] = _("{status}, {epochs} epochs, started {when} ago.").format(
        status=status_word(row["status"]), epochs=row.get("epochs") or 0, when=age(row.get("started") or "") or "?"
    )
    page["facts"] = [
        (_("test acc"), _num(row.get("test_accuracy"))), (_("test loss"), _num(row.get("test_loss"))),
        (_("best val_acc"), _num(row.get("val_accuracy"))), (_("backend"), row.get("backend") or ""),
    ]  # fmt: skip
    page["data"] = {"curves": {"series": [{"id": run.id, "label": run.id, "rows": _history(run)}], "settings": []},
                    "live": "run" if run.status == RunStatus.RUNNING else None, "run": run.id, "words": _chart_words(),
                    "epochs": _config_epochs(run), "class_names": []}  # fmt: skip
    if row.get("problem"):
        return page
    try:
        config = run_config(run)
        page["config_yaml"] = run.config_path.read_text()
    except Exception as exc:
        page["problem"] = str(exc)
        return page
    names = [class_word(n) for n in config.class_names]
    page["data"]["class_names"] = names
    page["tile"] = _tile_for(run, names)
    page["network"] = {"png": f"/api/runs/{quote(run.id)}/network.png", "words": _network_words(config)}
    _evidence(page, run, names)
    return page


def _config_epochs(run: Run) -> int | None:
    try:
        config = run.info.config or {}
        return int(config["epochs"]) if "epochs" in config else None
    except (TypeError, ValueError):
        return None


def _network_words(config: Any) -> dict[str, Any]:
    from fashionlab.views.explain import explain

    words = explain(config)
    return {"input": words["input"], "layers": words["layers"], "output": words["output"], "total": words.get("total")}


def _evidence(page: dict[str, Any], run: Run, names: list[str]) -> None:
    """The parts drawn from the run's per-image evidence: confusion matrix, the grid, the confident errors."""
    try:
        confusion = readers.confusion(run, names)
    except Exception as exc:
        page["evidence_missing"] = str(exc)
        return
    if confusion is None:
        page["evidence_missing"] = _(
            "This run keeps no per-image answers; 'fashionlab evaluate {run}' writes them."
        ).format(run=run.id)
        return
    page["confusion"] = confusion
    page["confusion_note"] = _(
        "The kept model (epoch {epoch}) on {n} test images: rows are the true class, columns the answer. "
        "Click a cell to see its images."
    ).format(epoch=confusion["epoch"], n=grouped(confusion["images"]))
    page["grid"] = readers.first_answers(run)
    page["grid_note"] = _(
        "The first test images with the model's answer and how sure it was (blue: right, red: wrong)."
    )
    page["errors"] = readers.confident_errors(run)
    page["errors_note"] = _("The test images the model gets wrong while most sure of its answer.")
    if run.has_model:
        page["tutorial_grid"] = f"/api/runs/{quote(run.id)}/predictions.png"
        page["inside"] = inside_part(run)


def inside_part(run: Run) -> dict[str, Any]:
    """The run's network from inside: its pictures at each epoch whose weights it has, a slider between them."""
    from fashionlab.views.inside import epoch_title

    epochs = [{"key": key, "number": number, "label": epoch_title({"epoch": key, "epoch_number": number})}
              for key, number in run.weight_epochs()]  # fmt: skip
    base = f"/api/runs/{quote(run.id)}/inside"
    return {"weights": f"{base}/weights.png", "image": f"{base}/image.png", "index": 0, "epochs": epochs,
            "at": len(epochs) - 1}  # fmt: skip


def _cell_title(true: int, predicted: int, n: int) -> str:
    return _("{n} images").format(n=n)


def _tile_for(run: Run, names: list[str] | None = None) -> Any:
    """One test image with the model's answer, as a figure (the name escaped, as every name on the page)."""

    def tile(img: dict[str, Any]) -> Markup:
        known = names or []
        predicted = known[img["predicted"]] if img["predicted"] < len(known) else str(img["predicted"])
        true = known[img["true"]] if img["true"] < len(known) else str(img["true"])
        right = img["predicted"] == img["true"]
        sure = f" {img['confidence']:.0%}" if img.get("confidence") is not None else ""
        caption = escape(predicted) + sure + ("" if right else Markup(" <small>(") + escape(true) + Markup(")</small>"))
        src = f"/api/runs/{quote(run.id)}/test-image/{img['index']}.png"
        kind = "right" if right else "wrong"
        return Markup('<figure class="tile {}"><img src="{}" alt="#{}"><figcaption>{}</figcaption></figure>').format(
            kind, src, img["index"], caption
        )

    return tile


def predict_page(index: readers.RunIndex, chosen: str | None, test_index: int) -> dict[str, Any]:
    rows = [r for r in index.rows() if r.get("status") == RunStatus.COMPLETED and not r.get("problem")]
    choices = [r["id"] for r in reversed(rows)]
    pick = chosen if chosen in choices else (choices[0] if choices else None)
    words = {"true": _("true class: {name}"), "predicted": _("predicted: {name} ({p})"), "right": _("right"),
             "wrong": _("wrong"), "inverted": _("(a light background: inverted first)")}  # fmt: skip
    data = {"run": pick, "words": words}
    return {**base(_("Predict"), "predict", str(index.store.root), data), "choices": choices, "chosen": pick,
            "index": test_index}  # fmt: skip


def message_page(folder: str, title: str, message: str) -> dict[str, Any]:
    return {**base(title, "message", folder), "message": message}
