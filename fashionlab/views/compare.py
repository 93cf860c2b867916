"""Comparing runs: one flat row per run (what differs in its config, its metrics), sorted, as a Rich
table, plain text for long listings, or records for CSV, Markdown and JSON.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from fashionlab.errors import InputError
from fashionlab.store import Run, RunStatus
from fashionlab.views.tables import PLAIN_ABOVE, STATUS_STYLE, plain_table

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


def check_sort(sort: str) -> None:
    if sort not in SORT_KEYS:
        raise InputError(f"`sort` {sort} is not a metric; use one of {', '.join(SORT_KEYS)}")


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
    return row


def varying_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Config keys whose values differ between rows, in config order."""
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row["config"] if k not in keys)
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


def compare_table(rows: list[dict[str, Any]], config_keys: list[str], sort: str, title: str) -> RenderableType | str:
    best = rows[0]["run"] if rows and rows[0].get(sort) is not None else None
    if len(rows) > PLAIN_ABOVE:
        headers = ["run", *map(short_key, config_keys), "status"]
        headers += [f"{group} {header}".strip() if group else header for _, header, group in METRIC_COLUMNS]
        cells = [
            [
                ("* " if r["run"] == best else "  ") + r["run"],
                *(cell(r["config"].get(k)) for k in config_keys),
                r["status"],
            ]
            + [cell(r.get(k)) for k, _, _ in METRIC_COLUMNS]
            for r in rows
        ]
        first_metric = 2 + len(config_keys)
        return plain_table(title, headers, cells, right=set(range(first_metric, len(headers))))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", no_wrap=True)
    for key in config_keys:
        table.add_column(short_key(key), no_wrap=True)
    table.add_column("status")
    for key, header, group in METRIC_COLUMNS:
        label = f"{group} {header}".strip() if group else header
        table.add_column(label, justify="right", style="bold" if key == sort else None)
    for row in rows:
        style = (
            "bold green"
            if row["run"] == best
            else ("red" if row["status"] in (RunStatus.FAILED, RunStatus.DIVERGED, RunStatus.BROKEN) else None)
        )
        run_label = ("★ " if row["run"] == best else "  ") + row["run"]
        values = [cell(row["config"].get(k)) for k in config_keys]
        metrics = [
            cell(row.get(k)) if k != "seconds" else f"{row[k]:.1f}" if row.get(k) else "-" for k, _, _ in METRIC_COLUMNS
        ]
        table.add_row(
            run_label, *values, Text(row["status"], style=STATUS_STYLE.get(row["status"], "")), *metrics, style=style
        )
    return table


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
