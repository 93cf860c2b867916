"""Comparing runs: one flat row per run (what differs in its config, its metrics), sorted, as a Rich
table, plain text for long listings, or records for CSV, Markdown and JSON.
"""

from __future__ import annotations

import collections
import csv
import difflib
import io
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from fashionlab.errors import InputError
from fashionlab.i18n import _
from fashionlab.keys import METRIC_COLUMNS, SORT_KEYS, layers_diff, short_key
from fashionlab.results import (
    Results,
    RunSummary,
    Verdict,
    cell,
    collect,
    short_id,
    varying_keys,
)
from fashionlab.store import Run, RunStatus
from fashionlab.text import csv_cell, markdown_text, visible
from fashionlab.views.fit import Col, choose, fit, plain
from fashionlab.views.tables import PLAIN_ABOVE, STATUS_STYLE

FORMATS = ("table", "csv", "md", "json")


def metric_key(name: str) -> str | None:
    """A metric's key from its key or a name the tables show (test_acc, val_acc, time), else None."""
    if name in SORT_KEYS:
        return name
    aliases = {
        header.replace("\n", "_").replace("-_", "").replace(" ", "_"): key for key, (header, _) in DISPLAY.items()
    }
    aliases.update({"val_acc": "best_val_accuracy", "time": "seconds", "time (s)": "seconds", "acc": "accuracy",
                    "best_val_acc": "best_val_accuracy", "max_val_acc": "max_val_accuracy"})  # fmt: skip
    return aliases.get(name.replace(" ", "_"))


def check_sort(sort: str) -> str:
    """The metric key `sort` names (accepting the tables' names, e.g. test_acc), or an InputError."""
    key = metric_key(sort)
    if key is None:
        close = difflib.get_close_matches(sort, [*SORT_KEYS, "test_acc", "val_acc"], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise InputError(f"`sort` {sort} is not a metric; use one of {', '.join(SORT_KEYS)}{hint}")
    return key


def resolve_columns(text: str, config_keys: list[str]) -> list[str]:
    """`test_acc,lr,epochs` -> column keys; each name is a metric (or a table's name for it) or a config key."""
    shorts = {short_key(k): k for k in config_keys}
    out: list[str] = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        key = metric_key(name) or (name if name in config_keys or name == "status" else shorts.get(name))
        if key is None:
            known = [*SORT_KEYS, "status", *shorts]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"use metrics ({', '.join(SORT_KEYS)}) or config keys"
            raise InputError(f"`columns`: no column '{name}'; {hint}")
        out.append(key)
    return out


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"`format` {fmt} is not known; use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")


def run_labels(runs: list[Run]) -> dict[str, str]:
    """Each run's label among these runs (for legends)."""
    return collect(runs).labels


def compact_records(res: Results, keys: list[str], axes: list[str] | None = None) -> list[dict[str, str]]:
    """The table a report shows: the columns the terminal shows first (id, what differs, test metrics,
    the verdict against the best, best epoch, overfitting, time), as formatted cells under one-line headers."""
    cols = [c for c in comparison_columns(res, keys, axes) if c.priority < 8]
    return [
        {
            header_words(c.header.replace("-\n", "").replace("\n", " ")): cell_words(_text(c.cells[i]).strip())
            for c in cols
        }
        for i in range(len(res.runs))
    ]


def header_words(header: str) -> str:
    """A one-line column header of a report's table in the chosen language."""
    words = {
        "id": _("id"), "test acc": _("test acc"), "vs ★": _("vs ★"), "test loss": _("test loss"),
        "best epoch": _("best epoch"), "val_acc at best": _("val_acc at best"), "overfit": _("overfit"),
        "time": _("time"), "status": _("status"), "setting": _("setting"), "vs best test acc": _("vs best test acc"),
        "max val_acc": _("max val_acc"),
    }  # fmt: skip
    return words.get(header, header)


def cell_words(value: str) -> str:
    """yes/no and the statuses in the chosen language (numbers and ids as they are)."""
    return {"yes": _("yes"), "no": _("no"), "completed": _("completed"), "best": _("best")}.get(value, value)


def _text(value: Any) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def compare_columns(rows: list[RunSummary], all_columns: bool, axes: list[str] | None = None) -> list[str]:
    keys = varying_keys(rows)
    if axes:  # a sweep's axes first, in the order given, even where only one value survived
        keys = [*(a for a in axes if a in keys or a == "config"), *(k for k in keys if k not in axes)]
    if all_columns:
        keys += [k for r in rows for k in r.config if k not in keys]
        keys = list(dict.fromkeys(keys))
    return keys


def compare_records(rows: list[RunSummary], config_keys: list[str]) -> list[dict[str, Any]]:
    """Rows as flat records (for csv/md): run, config columns, status, metrics."""
    out = []
    for row in rows:
        record: dict[str, Any] = {"run": row.run}
        record.update({k: row.config.get(k) for k in config_keys})
        record["status"] = row.status
        record.update({k: row.value(k) for k, _, _ in METRIC_COLUMNS})
        out.append(record)
    return out


def comparison_json(
    res: Results, config_keys: list[str], settings: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`compare --format json`: one flat record per run (config keys, status, metrics), the settings where
    seeds repeat them, and the comparisons and findings with every number they rest on."""
    data = res.to_json()
    extra = {r["run"]: r for r in data["runs"]}
    runs = [{**record, **{k: v for k, v in extra[record["run"]].items() if k not in record}}
            for record in compare_records(res.runs, config_keys)]  # fmt: skip
    out: dict[str, Any] = {"sort": data["sort"], "meaning": data["meaning"], "runs": runs}
    if settings is not None:
        out["settings"] = settings
    return {**out, "comparisons": data["comparisons"], "findings": data["findings"]}


# How the terminal table shows each metric: compact header, priority (lower stays when space is short).
DISPLAY = {
    "test_accuracy": ("test\nacc", 2.0),
    "test_loss": ("test\nloss", 3.0),
    "best_epoch": ("best\nepoch", 5.0),
    "best_val_accuracy": ("val_acc\nat best", 5.5),
    "overfitting": ("over-\nfit", 6.0),
    "seconds": ("time", 7.0),
    "max_val_accuracy": ("max\nval_acc", 8.5),
    "epochs": ("epochs", 9.0),
    "val_accuracy": ("last\nval_acc", 10.0),
    "val_loss": ("last\nval_loss", 11.0),
    "best_val_loss": ("val_loss\nat best", 12.0),
    "accuracy": ("last\nacc", 13.0),
    "loss": ("last\nloss", 14.0),
    "best_accuracy": ("acc\nat best", 15.0),
    "best_loss": ("loss\nat best", 16.0),
}
FAILED = (RunStatus.FAILED, RunStatus.DIVERGED, RunStatus.BROKEN)


def display_headers() -> dict[str, str]:
    """DISPLAY's headers in the chosen language (DISPLAY keeps the English ones: --columns and --sort accept them)."""
    return {
        "test_accuracy": _("test\nacc"), "test_loss": _("test\nloss"), "best_epoch": _("best\nepoch"),
        "best_val_accuracy": _("val_acc\nat best"), "overfitting": _("over-\nfit"), "seconds": _("time"),
        "max_val_accuracy": _("max\nval_acc"), "epochs": _("epochs"), "val_accuracy": _("last\nval_acc"),
        "val_loss": _("last\nval_loss"), "best_val_loss": _("val_loss\nat best"), "accuracy": _("last\nacc"),
        "loss": _("last\nloss"), "best_accuracy": _("acc\nat best"), "best_loss": _("loss\nat best"),
    }  # fmt: skip


def metric_cell(key: str, value: Any) -> str:
    if key == "seconds":
        return f"{value:.1f} s" if isinstance(value, int | float) else "-"
    return cell(value)


def header_of(metric: str) -> str:
    """A metric's name in one line, as the tables show it: test acc, val_acc at best."""
    return DISPLAY.get(metric, (metric, 0))[0].replace("-\n", "").replace("\n", " ")


def versus_cells(res: Results) -> list[str]:
    """Each run's verdict against the starred one on the sort metric (one seed per setting)."""
    from fashionlab.views.observations import verdict_word

    by_run = {run: c for c in res.comparisons for run in c.a_runs}
    best = res.best
    out = []
    for row in res.runs:
        found = by_run.get(row.run)
        if best is not None and row.run == best.run:
            out.append("★")
        elif found is None:
            out.append("-")
        elif found.verdict in (Verdict.CANNOT_JUDGE, Verdict.IDENTICAL):
            out.append(verdict_word(found.verdict))
        else:
            out.append(f"{found.diff:+.4f} {verdict_word(found.verdict)}")
    return out


def comparison_columns(
    res: Results, config_keys: list[str], axes: list[str] | None = None, wide: bool = False
) -> list[Col]:
    """Columns of the comparison, each with its cells and priority: id, what differs, status, metrics."""
    rows, sort = res.runs, res.sort
    best = res.best.run if res.best and not res.of("tasks_differ") else None  # no ranking across tasks
    mark = ["★ " if r.run == best else "  " for r in rows]
    tails = collections.Counter(r.run.rsplit("-", 1)[-1] for r in rows)
    ids = [r.run if wide else short_id(r, rows, tails) for r in rows]
    cols = [Col("run", "run" if wide else "id", 1.0, "left", cells=[m + i for m, i in zip(mark, ids, strict=True)])]
    if not axes and config_keys and len(rows) > 1:  # no sweep's axes to show: what sets each run apart, in words
        labels = [res.labels.get(r.run, "") for r in rows]
        cols.append(Col("label", _("what differs"), 0.5, "left", cells=labels, max_width=28))
    layered = False
    for n, key in enumerate(config_keys):
        if key.startswith("layers.") and key not in (axes or []):
            if not layered:  # every layers.N.x key as one column: the list's diff, not its entries by index
                layered = True
                cols.append(Col("layers", _("layers\nvs 1st row"), 6.5, "left", cells=layer_cells(rows),
                                max_width=36))  # fmt: skip
            continue
        named = axes or []
        swept = key in named or key.split(".")[0] in named or short_key(key) in named
        values = [r.config.get(key) for r in rows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        cells = [cell(v) for v in values]
        # a sweep's axes stay; any other key gives way before every metric (the label says it)
        cols.append(Col(key, short_key(key), 0.0 if swept else 20.0 + n, "right" if numeric else "left", cells=cells))
    from fashionlab.views.tables import status_word

    unfinished = any(r.status != RunStatus.COMPLETED for r in rows)
    status = [Text(status_word(str(r.status)), style=STATUS_STYLE.get(RunStatus(r.status), "")) for r in rows]
    cols.append(Col("status", _("status"), 1.5 if unfinished else 8.0, "left", cells=list(status)))
    shown = display_headers()
    for key, (_header, priority) in DISPLAY.items():
        header = shown[key]
        cells = [metric_cell(key, r.value(key)) for r in rows]
        chosen = key == sort
        cols.append(
            Col(key, header, min(priority, 1.9) if chosen else priority, style="bold" if chosen else None, cells=cells)
        )
        if chosen and not res.repeated and len(res.settings) > 1:
            cols.append(Col("vs_best", "vs ★", 2.5, "left", cells=versus_cells(res)))
    return cols


def layer_cells(rows: list[RunSummary]) -> list[str]:
    """Each run's layers against the first row's, as a diff of the two lists (keys.layers_diff): tiny-deeper
    against tiny is "added Dense(16, relu) twice", its unchanged output layer not a change."""
    from fashionlab.views.observations import change_words

    first = rows[0].layers
    cells = [", ".join(change_words(c) for c in layers_diff(first, r.layers)) or _("same") for r in rows[1:]]
    return [", ".join(first), *cells]


def row_styles(res: Results) -> list[str | None]:
    best = res.best.run if res.best and not res.of("tasks_differ") else None
    return ["bold green" if r.run == best else ("red" if r.status in FAILED else None) for r in res.runs]


def legend(res: Results) -> str:
    """What the star, the sort and the verdicts mean, under a table of runs."""
    from fashionlab.views.observations import basis_words

    sorted_by = {
        "test_accuracy": _("test accuracy of the model each run kept"),
        "test_loss": _("test loss of the model each run kept"),
    }.get(res.sort, header_of(res.sort))
    monitor = next((r.monitor for r in res.runs if r.monitor), "val_loss")
    said = _("★ best {what}, sorted by it. best epoch: lowest {monitor}.").format(what=sorted_by, monitor=monitor)
    if res.of("tasks_differ"):
        return _("Sorted by {what}, but no ★: the runs do different tasks. best epoch: lowest {monitor}.").format(
            what=sorted_by, monitor=monitor
        )
    if not res.repeated and len(res.settings) > 1:
        noise = next((c for c in res.comparisons if c.noise is not None), None)
        if noise is not None and noise.noise is not None:
            said += " " + _(
                "vs ★: one seed per setting, so no difference can be judged (below {points} points it is noise in "
                "any case: {basis}); --repeats 3 measures how much seeds move each."
            ).format(points=f"{100 * noise.noise:.1f}", basis=basis_words(noise.basis))
        else:
            said += " " + _(
                "vs ★: one seed per setting, so no difference can be judged; --repeats 3 measures how much seeds "
                "move each."
            )
    return said


def compare_table(
    res: Results, config_keys: list[str], title: str, width: int | None = None,
    axes: list[str] | None = None, columns: list[str] | None = None,
) -> tuple[RenderableType | str, list[Col]]:  # fmt: skip
    """The comparison as a table `width` columns wide (None: every column, full run ids), and the
    columns left out to fit. `columns` picks the metrics and config keys to show, in that order."""
    cols = comparison_columns(res, config_keys, axes, wide=width is None)
    if columns is not None:
        by_key = {c.key: c for c in cols}
        cols = [cols[0], *(by_key[k] for k in columns if k in by_key and k != "run")]
    if len(res.runs) > PLAIN_ABOVE:
        shown = choose(cols, width, wraps=False)
        return plain(shown, title), [c for c in cols if c not in shown]
    return fit(cols, width, title, row_styles(res))


def records_csv(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if records:
        writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
        writer.writerow({k: csv_cell(visible(k)) for k in records[0]})
        for r in records:
            writer.writerow({k: _csv_value(v) for k, v in r.items()})
    return buf.getvalue()


def _csv_value(value: Any) -> Any:
    """A cell as CSV holds it: lists and flags as the table shows them, text visible and never a formula."""
    if isinstance(value, list | dict | bool):
        value = cell(value)
    return csv_cell(visible(value)) if isinstance(value, str) else value


def records_markdown(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    keys = list(records[0])
    lines = ["| " + " | ".join(markdown_text(k) for k in keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    for r in records:
        lines.append("| " + " | ".join(markdown_text(cell(r[k])).replace("|", "\\|") for k in keys) + " |")
    return "\n".join(lines) + "\n"
