"""Tables and terminal pictures from results, as Rich renderables. No training, no Keras."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fashionlab.runs import Run

if TYPE_CHECKING:
    from fashionlab.data import DataSummary

STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "interrupted": "yellow",
    "failed": "red",
    "diverged": "red",
    "pruned": "magenta",
    "broken": "bold red",
}


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def data_table(summary: DataSummary) -> RenderableType:
    shapes = Table(title=f"Fashion-MNIST ({summary.directory})", title_justify="left")
    for col in ("split", "images", "dtype", "labels", "dtype", "pixel range"):
        shapes.add_column(col)
    for split, s in summary.splits.items():
        shapes.add_row(
            split, str(tuple(s["x_shape"])), str(s["x_dtype"]), str(tuple(s["y_shape"])), str(s["y_dtype"]),
            f"{s['pixel_range'][0]}-{s['pixel_range'][1]}",
        )  # fmt: skip
    counts = Table(title="Images per class", title_justify="left")
    counts.add_column("label", justify="right")
    counts.add_column("class")
    for split in summary.splits:
        counts.add_column(split, justify="right")
    for i, name in enumerate(summary.class_names):
        counts.add_row(str(i), name, *(f"{s['counts'][i]:,}" for s in summary.splits.values()))  # type: ignore[index]
    return Group(shapes, counts)


def network_table(rows: list[Any], config: Any, labels: str, from_logits: bool | None) -> RenderableType:
    table = Table(title=f"Network '{config.name}'", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("layer")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    table.add_column("activation")
    table.add_row("", "input", str(tuple(config.input_shape)), "0", "-")
    for i, row in enumerate(rows):
        table.add_row(str(i), row.name, str(row.output_shape), f"{row.params:,}", row.activation)
    total = sum(r.params for r in rows)
    table.add_section()
    table.add_row("", "total", "", f"{total:,}", "")
    n_in = math.prod(config.input_shape)
    out = rows[-1]
    what_out = (
        "logits (raw scores; softmax turns them into probabilities)"
        if out.activation == "linear"
        else f"{out.activation} outputs"
    )
    sentence = (
        f"In: {n_in:,} numbers per image (input_shape {list(config.input_shape)}, pixels scaled to 0-1). "
        f"Out: {math.prod(out.output_shape):,} {what_out}. "
        f"Loss {config.loss.name} with {labels} labels"
        + (f", from_logits={from_logits}" if from_logits is not None else "")
        + f"; optimizer {config.optimizer.name}."
    )
    return Group(table, Text(sentence))


def train_table(run_id: str, summary: dict[str, Any], test: dict[str, float], backend: str) -> RenderableType:
    table = Table(title=f"Run {run_id}", title_justify="left")
    table.add_column("epoch")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        table.add_column(key, justify="right")
    for label, which in (("last", "last"), ("best", "best")):
        values = summary[which]
        table.add_row(
            f"{label} ({summary[f'{which}_epoch']})",
            *(fmt(values.get(k)) for k in ("loss", "accuracy", "val_loss", "val_accuracy")),
            style="bold" if label == "best" else None,
        )
    table.add_section()
    table.add_row("test", fmt(test.get("loss")), fmt(test.get("accuracy")), "", "")
    footer = Text(
        f"{summary['epochs']} epochs, {summary['seconds_per_epoch']:.2f} s/epoch after the first "
        f"({summary['seconds_total']:.1f} s in all) on {backend}.\n{summary['verdict']}"
    )
    if summary.get("overfitting"):
        footer.stylize("yellow", footer.plain.index("Overfitting"))
    return Group(table, footer)


def evaluate_tables(report: dict[str, Any]) -> RenderableType:
    head = Text(
        f"Run {report['run']}: test loss {report['test_loss']:.4f}, accuracy {report['test_accuracy']:.4f} "
        f"on {report['samples']:,} test images"
    )
    per = Table(title="Per class", title_justify="left")
    per.add_column("class")
    for col in ("precision", "recall", "f1", "specificity", "support"):
        per.add_column(col, justify="right")
    for name, row in zip(report["class_names"], report["per_class"], strict=True):
        per.add_row(name, *(fmt(row[k]) for k in ("precision", "recall", "f1", "specificity")), str(row["support"]))
    per.add_section()
    macro = report["macro"]
    per.add_row(
        "macro avg",
        *(fmt(macro[k]) for k in ("precision", "recall", "f1", "specificity")),
        str(report["samples"]),
        style="bold",
    )
    cm = Table(title="Confusion matrix (rows: true class, columns: predicted class by number)", title_justify="left")
    cm.add_column("true \\ predicted", no_wrap=True)
    for i in range(len(report["class_names"])):
        cm.add_column(str(i), justify="right")
    for i, row in enumerate(report["confusion_matrix"]):
        cells = (f"[bold]{v}[/bold]" if i == j else (str(v) if v else "[dim]0[/dim]") for j, v in enumerate(row))
        cm.add_row(f"{i} {report['class_names'][i]}", *cells)
    return Group(head, per, cm)


SHADES = " .:-=+*#%@"  # dark to light, for terminals without colour


def image_text(pixels: list[list[int]], color: bool = True) -> Text:
    """A 28x28 grayscale image in the terminal: 14 rows of '▀' in colour, else 28 rows of ASCII shades."""
    text = Text()
    if not color:
        for row in pixels:
            text.append("".join(SHADES[min(9, v * 10 // 256)] * 2 for v in row).rstrip() + "\n")
        return text
    for r in range(0, len(pixels), 2):
        for c in range(len(pixels[0])):
            top = pixels[r][c]
            bottom = pixels[r + 1][c] if r + 1 < len(pixels) else 0
            text.append("▀", style=f"rgb({top},{top},{top}) on rgb({bottom},{bottom},{bottom})")
        text.append("\n")
    return text


def prediction_view(pred: dict[str, Any], color: bool = True, width: int = 30) -> RenderableType:
    bars = Table(box=None, show_header=False, pad_edge=False)
    bars.add_column("class")
    bars.add_column("bar")
    bars.add_column("p")
    for i, (name, p) in enumerate(pred["probabilities"].items()):
        filled = round(p * width)
        style = "blue" if i == pred["true"] else ("red" if i == pred["predicted"] and pred["correct"] is False else "")
        if i == pred["predicted"] and pred["correct"] is not False:
            style = "bold blue"
        mark = " <- predicted" if i == pred["predicted"] else ""
        if i == pred["true"]:
            mark += " <- true" if not mark else ", true"
        bars.add_row(
            Text(name, style=style),
            Text("█" * filled + "·" * (width - filled), style=style or "dim"),
            Text(f"{p:6.1%}{mark}", style=style),
        )
    line = f"Predicted {pred['predicted_name']} ({max(pred['probabilities'].values()):.1%})"
    if pred["true"] is not None:
        line += f"; true label {pred['true_name']}: {'right' if pred['correct'] else 'wrong'}."
        source = f"test image {pred['index']}"
    else:
        line += "."
        source = str(pred["image_file"]) + (" (inverted to a dark background)" if pred["inverted"] else "")
    return Group(
        Text(f"Run {pred['run']}, {source}"), image_text(pred["pixels"], color), bars, Text(line, style="bold")
    )


def age(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    except ValueError:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def run_row(run: Run) -> dict[str, Any]:
    """The facts `runs` shows about one run, readable even when the directory is broken."""
    row: dict[str, Any] = {"id": run.id, "name": run.name, "status": run.status, "problem": run.problem}
    if run.problem:
        return row
    try:
        metrics = run.metrics()
    except Exception:
        metrics = {}
        row["problem"] = "metrics.json is unreadable"
    summary, test = metrics.get("summary", {}), metrics.get("test", {})
    row.update(
        epochs=run.info.get("epochs_done", summary.get("epochs")),
        val_accuracy=summary.get("best", {}).get("val_accuracy"),
        test_accuracy=test.get("accuracy"),
        backend=run.info.get("backend"),
        started=run.info.get("started"),
    )
    return row


PLAIN_ABOVE = 100  # rows; longer listings are drawn as plain aligned text (Rich tables cost ~0.5 ms a row)


def plain_table(title: str, headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """A fast fixed-width table: title, header, rule, rows; columns two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    body = [title, line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    return "\n".join(body)


def runs_table(rows: list[dict[str, Any]]) -> RenderableType | str:
    if len(rows) > PLAIN_ABOVE:
        headers = ["id", "name", "status", "epochs", "val_acc", "test_acc", "age"]
        cells = [
            [
                r["id"], r["name"], r["status"] + (f" ({r['problem']})" if r.get("problem") else ""),
                fmt(r.get("epochs")), fmt(r.get("val_accuracy")), fmt(r.get("test_accuracy")), age(r.get("started")),
            ]
            for r in rows
        ]  # fmt: skip
        return plain_table("Runs", headers, cells, right={3, 4, 5, 6})
    table = Table(title="Runs", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True)
    for col, just in (("name", "left"), ("status", "left"), ("epochs", "right"), ("val_acc", "right"),
                      ("test_acc", "right"), ("age", "right")):  # fmt: skip
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in rows:
        status = Text(row["status"], style=STATUS_STYLE.get(row["status"], ""))
        if row.get("problem"):
            status.append(f" ({row['problem']})")
        table.add_row(
            row["id"], row["name"], status, fmt(row.get("epochs")), fmt(row.get("val_accuracy")),
            fmt(row.get("test_accuracy")), age(row.get("started")),
        )  # fmt: skip
    return table


# ---------------------------------------------------------------- comparing runs

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


def _run_config(run: Run) -> dict[str, Any]:
    config = run.info.get("config")
    if isinstance(config, dict):
        return config
    try:
        return run.config()
    except Exception:
        return {}


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
    row["config"] = {k: v for k, v in flatten(_run_config(run)).items()}
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


def _short(key: str) -> str:
    return {"optimizer.learning_rate": "lr", "optimizer.name": "optimizer", "loss.name": "loss"}.get(key, key)


def compare_columns(rows: list[dict[str, Any]], all_columns: bool, axes: list[str] | None = None) -> list[str]:
    keys = varying_keys(rows)
    if axes:  # a sweep's axes first, in the order given, even where only one value survived
        keys = [*(a for a in axes if a in keys or a == "config"), *(k for k in keys if k not in axes)]
    if all_columns:
        keys += [k for r in rows for k in r["config"] if k not in keys]
        keys = list(dict.fromkeys(keys))
    return keys


def _cell(value: Any) -> str:
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
        headers = ["run", *map(_short, config_keys), "status"]
        headers += [f"{group} {header}".strip() if group else header for _, header, group in METRIC_COLUMNS]
        cells = [
            [
                ("* " if r["run"] == best else "  ") + r["run"],
                *(_cell(r["config"].get(k)) for k in config_keys),
                r["status"],
            ]
            + [_cell(r.get(k)) for k, _, _ in METRIC_COLUMNS]
            for r in rows
        ]
        first_metric = 2 + len(config_keys)
        return plain_table(title, headers, cells, right=set(range(first_metric, len(headers))))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", no_wrap=True)
    for key in config_keys:
        table.add_column(_short(key), no_wrap=True)
    table.add_column("status")
    for key, header, group in METRIC_COLUMNS:
        label = f"{group} {header}".strip() if group else header
        table.add_column(label, justify="right", style="bold" if key == sort else None)
    for row in rows:
        style = (
            "bold green"
            if row["run"] == best
            else ("red" if row["status"] in ("failed", "diverged", "broken") else None)
        )
        run_label = ("★ " if row["run"] == best else "  ") + row["run"]
        values = [_cell(row["config"].get(k)) for k in config_keys]
        metrics = [
            _cell(row.get(k)) if k != "seconds" else f"{row[k]:.1f}" if row.get(k) else "-"
            for k, _, _ in METRIC_COLUMNS
        ]
        table.add_row(
            run_label, *values, Text(row["status"], style=STATUS_STYLE.get(row["status"], "")), *metrics, style=style
        )
    return table


def records_csv(records: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    if records:
        writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: _cell(v) if isinstance(v, list | dict | bool) else v for k, v in r.items()})
    return buf.getvalue()


def records_markdown(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    keys = list(records[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    for r in records:
        lines.append("| " + " | ".join(_cell(r[k]).replace("|", "\\|") for k in keys) + " |")
    return "\n".join(lines) + "\n"
