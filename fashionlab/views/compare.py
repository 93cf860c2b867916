"""Comparing runs: one flat row per run (what differs in its config, its metrics), sorted, as a Rich
table, plain text for long listings, or records for CSV, Markdown and JSON.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from fashionlab.errors import InputError
from fashionlab.store import Run, RunStatus
from fashionlab.views.fit import Col, choose, fit, plain
from fashionlab.views.tables import PLAIN_ABOVE, STATUS_STYLE

METRIC_COLUMNS = [
    # key in the row, header, group
    ("epochs", "epochs", ""),
    ("loss", "loss", "last"),
    ("accuracy", "acc", "last"),
    ("val_loss", "val_loss", "last"),
    ("val_accuracy", "val_acc", "last"),
    ("best_epoch", "epoch", "best"),
    ("best_loss", "loss", "best"),
    ("best_accuracy", "acc", "best"),
    ("best_val_loss", "val_loss", "best"),
    ("best_val_accuracy", "val_acc", "best"),
    ("test_loss", "loss", "test"),
    ("test_accuracy", "acc", "test"),
    ("overfitting", "overfit", ""),
    ("seconds", "time (s)", ""),
]
SORT_KEYS = [key for key, _, _ in METRIC_COLUMNS]
LOWER_IS_BETTER = ("loss", "seconds", "epoch")
FORMATS = ("table", "csv", "md", "json")


def metric_key(name: str) -> str | None:
    """A metric's key from its key or a name the tables show (test_acc, val_acc, time), else None."""
    if name in SORT_KEYS:
        return name
    aliases = {header.replace("\n", "_").replace("-_", ""): key for key, (header, _) in DISPLAY.items()}
    aliases.update({"val_acc": "best_val_accuracy", "time": "seconds", "time (s)": "seconds", "acc": "accuracy"})
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


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'optimizer': {'name': 'sgd'}} -> {'optimizer.name': 'sgd'}; a layer's type is left out of its keys."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(data, list) and prefix.startswith("layers."):
        for i, item in enumerate(data):
            if isinstance(item, dict) and len(item) == 1:
                (kind, args) = next(iter(item.items()))
                out[f"{prefix}{i}"] = kind
                out.update(flatten(args or {}, f"{prefix}{i}."))
            else:
                out[f"{prefix}{i}"] = item
    else:
        out[prefix.rstrip(".")] = data
    return out


def compare_row(run: Run) -> dict[str, Any]:
    """One run as a flat row: its config (dotted keys) and its last, best and test metrics."""
    row: dict[str, Any] = {"run": run.id, "status": run.status}
    try:
        metrics = run.metrics() if not run.problem else {}
    except Exception:
        metrics = {}
    summary, test = metrics.get("summary", {}), metrics.get("test", {})
    last, best = summary.get("last", {}), summary.get("best", {})
    row.update(
        epochs=summary.get("epochs", run.info.get("epochs_done")),
        **{k: last.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
        best_epoch=summary.get("best_epoch"),
        **{f"best_{k}": best.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
        test_loss=test.get("loss"),
        test_accuracy=test.get("accuracy"),
        overfitting=summary.get("overfitting"),
        seconds=round(summary["seconds_total"], 1) if "seconds_total" in summary else None,
    )
    row["config"] = {k: v for k, v in flatten(run.resolved_config()).items()}
    row["shared_training"] = list(run.info.get("shared_training") or [])  # runs fed by the same training
    stopped = run.info.get("stopped_early") or {}
    row["restored_epoch"] = stopped.get("best_epoch") if stopped.get("restored") else None
    return row


def settings_label(row: dict[str, Any], keys: list[str], rows: list[dict[str, Any]]) -> str:
    """What sets this row apart: `optimizer=sgd, epochs=25`, or its short id when nothing differs."""
    parts = [f"{short_key(k)}={cell(row['config'].get(k))}" for k in keys]
    return ", ".join(parts) if parts else short_id(row, rows)


def run_labels(runs: list[Run]) -> dict[str, str]:
    """Each run's settings label among these runs (for legends)."""
    rows = [compare_row(r) for r in runs]
    keys = varying_keys(rows)
    return {r["run"]: settings_label(r, keys, rows) for r in rows}


def compact_records(
    rows: list[dict[str, Any]], keys: list[str], sort: str, axes: list[str] | None = None
) -> list[dict[str, str]]:
    """The table a report shows: the columns the terminal shows first (id, what differs, test metrics,
    best epoch, overfitting, time), as formatted cells under one-line headers."""
    cols = [c for c in comparison_columns(rows, keys, sort, axes) if c.priority < 8]
    return [
        {c.header.replace("-\n", "").replace("\n", " "): _text(c.cells[i]).strip() for c in cols}
        for i in range(len(rows))
    ]


def _text(value: Any) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def varying_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Config keys whose values differ between rows, in config order (not the name: a label, not a setting;
    a sweep's runs are named after their values)."""
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row["config"] if k not in keys and k != "name")
    first = rows[0]["config"] if rows else {}
    return [k for k in keys if any(r["config"].get(k) != first.get(k) for r in rows)]


def sort_rows(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Best first: lowest for losses, epochs and time, highest otherwise; missing values last."""
    low = any(word in metric for word in LOWER_IS_BETTER)
    present = [r for r in rows if isinstance(r.get(metric), int | float) and not isinstance(r.get(metric), bool)]
    missing = [r for r in rows if r not in present]
    return sorted(present, key=lambda r: r[metric] if low else -r[metric]) + missing


def short_key(key: str) -> str:
    return {"optimizer.learning_rate": "lr", "optimizer.name": "optimizer", "loss.name": "loss"}.get(key, key)


def compare_columns(rows: list[dict[str, Any]], all_columns: bool, axes: list[str] | None = None) -> list[str]:
    keys = varying_keys(rows)
    if axes:  # a sweep's axes first, in the order given, even where only one value survived
        keys = [*(a for a in axes if a in keys or a == "config"), *(k for k in keys if k not in axes)]
    if all_columns:
        keys += [k for r in rows for k in r["config"] if k not in keys]
        keys = list(dict.fromkeys(keys))
    return keys


def cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"
    if value is None:
        return "-"
    return str(value) if not isinstance(value, list | dict) else json.dumps(value)


def compare_records(rows: list[dict[str, Any]], config_keys: list[str]) -> list[dict[str, Any]]:
    """Rows as flat records (for csv/md/json): run, config columns, status, metrics."""
    out = []
    for row in rows:
        record: dict[str, Any] = {"run": row["run"]}
        record.update({k: row["config"].get(k) for k in config_keys})
        record["status"] = row["status"]
        record.update({k: row.get(k) for k, _, _ in METRIC_COLUMNS})
        out.append(record)
    return out


# How the terminal table shows each metric: compact header, priority (lower stays when space is short).
DISPLAY = {
    "test_accuracy": ("test\nacc", 2.0),
    "test_loss": ("test\nloss", 3.0),
    "best_val_accuracy": ("best\nval_acc", 4.0),
    "best_epoch": ("best\nepoch", 5.0),
    "overfitting": ("over-\nfit", 6.0),
    "seconds": ("time", 7.0),
    "epochs": ("epochs", 9.0),
    "val_accuracy": ("last\nval_acc", 10.0),
    "val_loss": ("last\nval_loss", 11.0),
    "best_val_loss": ("best\nval_loss", 12.0),
    "accuracy": ("last\nacc", 13.0),
    "loss": ("last\nloss", 14.0),
    "best_accuracy": ("best\nacc", 15.0),
    "best_loss": ("best\nloss", 16.0),
}
FAILED = (RunStatus.FAILED, RunStatus.DIVERGED, RunStatus.BROKEN)


def short_id(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """A run's config hash (the end of its id), or more of the id where two rows share it."""
    run_id = str(row["run"])
    tail = run_id.rsplit("-", 1)[-1]
    if sum(str(r["run"]).rsplit("-", 1)[-1] == tail for r in rows) == 1 and len(tail) == 8:
        return tail
    parts = run_id.split("-")
    return "-".join(parts[1:2] + parts[3:]) if len(parts) > 3 else run_id  # time-hash(-n)


def metric_cell(key: str, value: Any) -> str:
    if key == "seconds":
        return f"{value:.1f} s" if isinstance(value, int | float) else "-"
    return cell(value)


def comparison_columns(
    rows: list[dict[str, Any]], config_keys: list[str], sort: str, axes: list[str] | None = None, wide: bool = False
) -> list[Col]:
    """Columns of the comparison, each with its cells and priority: id, what differs, status, metrics."""
    best = rows[0]["run"] if rows and rows[0].get(sort) is not None else None
    mark = ["★ " if r["run"] == best else "  " for r in rows]
    ids = [r["run"] if wide else short_id(r, rows) for r in rows]
    cols = [Col("run", "run" if wide else "id", 1.0, "left", cells=[m + i for m, i in zip(mark, ids, strict=True)])]
    for n, key in enumerate(config_keys):
        swept = key in (axes or []) or (not axes and n < 3)
        values = [r["config"].get(key) for r in rows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        cells = [cell(v) for v in values]
        cols.append(Col(key, short_key(key), 0.0 if swept else 3.5, "right" if numeric else "left", cells=cells))
    unfinished = any(r["status"] != RunStatus.COMPLETED for r in rows)
    status = [Text(str(r["status"]), style=STATUS_STYLE.get(r["status"], "")) for r in rows]
    cols.append(Col("status", "status", 1.5 if unfinished else 8.0, "left", cells=list(status)))
    for key, (header, priority) in DISPLAY.items():
        cells = [metric_cell(key, r.get(key)) for r in rows]
        chosen = key == sort
        cols.append(
            Col(key, header, min(priority, 1.9) if chosen else priority, style="bold" if chosen else None, cells=cells)
        )
    return cols


def row_styles(rows: list[dict[str, Any]], sort: str) -> list[str | None]:
    best = rows[0]["run"] if rows and rows[0].get(sort) is not None else None
    return ["bold green" if r["run"] == best else ("red" if r["status"] in FAILED else None) for r in rows]


def compare_table(
    rows: list[dict[str, Any]], config_keys: list[str], sort: str, title: str, width: int | None = None,
    axes: list[str] | None = None, columns: list[str] | None = None,
) -> tuple[RenderableType | str, list[Col]]:  # fmt: skip
    """The comparison as a table `width` columns wide (None: every column, full run ids), and the
    columns left out to fit. `columns` picks the metrics and config keys to show, in that order."""
    cols = comparison_columns(rows, config_keys, sort, axes, wide=width is None)
    if columns is not None:
        by_key = {c.key: c for c in cols}
        cols = [cols[0], *(by_key[k] for k in columns if k in by_key and k != "run")]
    if len(rows) > PLAIN_ABOVE:
        shown = choose(cols, width)
        return plain(shown, title), [c for c in cols if c not in shown]
    return fit(cols, width, title, row_styles(rows, sort))


def records_csv(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if records:
        writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: cell(v) if isinstance(v, list | dict | bool) else v for k, v in r.items()})
    return buf.getvalue()


def records_markdown(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    keys = list(records[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    for r in records:
        lines.append("| " + " | ".join(cell(r[k]).replace("|", "\\|") for k in keys) + " |")
    return "\n".join(lines) + "\n"
