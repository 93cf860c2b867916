"""Terminal tables and pictures of one thing at a time (data, network, a run, an evaluation, a
prediction, the list of runs), as Rich renderables. Comparisons of runs are in compare.py."""

from __future__ import annotations

import collections
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fashionlab.i18n import _, class_word, grouped
from fashionlab.results import Results
from fashionlab.store import Run, RunStatus
from fashionlab.views.fit import Col, choose, fit, plain

if TYPE_CHECKING:
    from fashionlab.data import DataSummary

STATUS_STYLE = {
    RunStatus.COMPLETED: "green",
    RunStatus.RUNNING: "cyan",
    RunStatus.INTERRUPTED: "yellow",
    RunStatus.FAILED: "red",
    RunStatus.DIVERGED: "red",
    RunStatus.PRUNED: "magenta",
    RunStatus.BROKEN: "bold red",
}


def plural(n: int, word: str) -> str:
    """1 epoch, 2 epochs; 1 trial was, 2 trials were is up to the sentence."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def data_table(summary: DataSummary) -> RenderableType:
    split_words = {"train": _("train"), "test": _("test")}
    shapes = Table(title=f"{summary.title} ({summary.directory})", title_justify="left")
    for col in (_("split"), _("images"), "dtype", _("labels"), "dtype", _("pixel range")):
        shapes.add_column(col)
    for split, s in summary.splits.items():
        shapes.add_row(
            split_words.get(split, split), str(tuple(s["x_shape"])), str(s["x_dtype"]), str(tuple(s["y_shape"])),
            str(s["y_dtype"]), f"{s['pixel_range'][0]}-{s['pixel_range'][1]}",
        )  # fmt: skip
    counts = Table(title=_("Images per class"), title_justify="left")
    counts.add_column(_("label"), justify="right")
    counts.add_column(_("class"))
    for split in summary.splits:
        counts.add_column(split_words.get(split, split), justify="right")
    for i, name in enumerate(summary.class_names):
        counts.add_row(str(i), class_word(name), *(grouped(s["counts"][i]) for s in summary.splits.values()))  # type: ignore[index]
    sizes = {split: int(s["y_shape"][0]) for split, s in summary.splits.items()}
    code = _(
        "In the tutorial's code: len(train_labels) = {train} and len(test_labels) = {test}, one label per image (the "
        "shape ({test},) says the same: a tuple of one number); len(class_names) = {k}."
    ).format(train=sizes.get("train", 0), test=sizes.get("test", 0), k=len(summary.class_names))
    return Group(shapes, counts, Text(code))


def network_table(rows: list[Any], config: Any, labels: str, from_logits: bool | None) -> RenderableType:
    table = Table(title=_("Network '{name}'").format(name=config.name), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column(_("layer"))
    table.add_column(_("output shape"))
    table.add_column(_("params"), justify="right")
    table.add_column(_("activation"))
    table.add_row("", _("input"), str(tuple(config.input_shape)), "0", "-")
    for i, row in enumerate(rows):
        table.add_row(str(i), row.name, str(row.output_shape), grouped(row.params), row.activation)
    total = sum(r.params for r in rows)
    table.add_section()
    table.add_row("", _("total"), "", grouped(total), "")
    n_in = math.prod(config.input_shape)
    out = rows[-1]
    from fashionlab.network import output_kind

    kind = output_kind(config) if hasattr(config, "loss") else "logits"
    what_out = {
        "logits": _("logits (raw scores; softmax turns them into probabilities)"),
        "probabilities": _("softmax outputs (probabilities)"),
        "scores": _("{activation} outputs (scores, not probabilities)").format(activation=out.activation),
    }[kind]
    logits = f", from_logits={from_logits}" if from_logits is not None and "crossentropy" in config.loss.name else ""
    sentence = _(
        "In: {n_in} numbers per image (input_shape {shape}, pixels scaled to 0-1). Out: {n_out} {what_out}. Loss "
        "{loss} with {labels} labels{logits}; optimizer {optimizer}."
    ).format(
        n_in=grouped(n_in), shape=list(config.input_shape), n_out=grouped(math.prod(out.output_shape)),
        what_out=what_out,
        loss=config.loss.name, labels=labels, logits=logits, optimizer=config.optimizer.name,
    )  # fmt: skip
    return Group(table, Text(sentence))


def train_table(
    res: Results, summary: dict[str, Any], backend: str, stopped: dict[str, Any] | None = None
) -> RenderableType:
    """train's summary: last and best epoch, the test, and what the results say of this one run."""
    from fashionlab.views.observations import finding_text, one_run_noise

    row = res.runs[0]
    table = Table(title=_("Run {run}").format(run=row.run), title_justify="left")
    table.add_column(_("epoch"))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        table.add_column(key, justify="right")
    best = _("best: lowest {monitor}").format(monitor=row.monitor or "val_loss")
    for label, which in ((_("last"), "last"), (best, "best")):
        values = summary[which]
        table.add_row(
            f"{label} ({summary[f'{which}_epoch']})",
            *(fmt(values.get(k)) for k in ("loss", "accuracy", "val_loss", "val_accuracy")),
            style="bold" if which == "best" else None,
        )
    table.add_section()
    tested = _("test (model of epoch {epoch})")
    table.add_row(tested.format(epoch=row.test.epoch) if row.test else _("test"),
                  fmt(row.test_loss), fmt(row.test_accuracy), "", "")  # fmt: skip
    if row.test_at_best is not None:
        table.add_row(tested.format(epoch=row.test_at_best.epoch), fmt(row.test_at_best.loss),
                      fmt(row.test_at_best.accuracy), "", "")  # fmt: skip
    footer = Text(
        _("{epochs}, {per} s/epoch after the first ({total} s in all) on {backend}.").format(
            epochs=_("1 epoch") if summary["epochs"] == 1 else _("{n} epochs").format(n=summary["epochs"]),
            per=f"{summary['seconds_per_epoch']:.2f}", total=f"{summary['seconds_total']:.1f}", backend=backend,
        )
    )  # fmt: skip
    said = [f for f in res.findings if f.kind in ("chance", "dead_units", "overfitting")]
    for found in said:
        footer.append("\n" + finding_text(found), style="yellow")
    if not said:
        from fashionlab import metrics

        footer.append("\n" + metrics.verdict_words(summary))
    for found in res.of("checkpoints"):  # the best epoch's model against the kept one, on the test images
        footer.append("\n" + finding_text(found))
    if stopped:
        kept = (
            _("the model of epoch {epoch}, the best, was restored and tested").format(epoch=stopped["best_epoch"])
            if stopped.get("restored")
            else _("the last epoch's model was kept and tested")
        )
        footer.append("\n" + _("Stopped early after epoch {epoch} (no improvement for its patience); {kept}.").format(
            epoch=stopped["epoch"], kept=kept))  # fmt: skip
    footer.append("\n" + loss_words(), style="dim")
    footer.append("\n" + one_run_noise(row), style="dim")
    return Group(table, footer)


def loss_words() -> str:
    """What loss, val_loss and the test row are measured on, said once under train's summary and in the report."""
    return _(
        "loss and accuracy: on the training images, averaged over each epoch's batches while the weights change; "
        "val_loss and val_accuracy: on the validation images at the end of each epoch (never trained on); test: "
        "on the separate test set, once, with the model of the epoch it names. The loss is the cross-entropy: the "
        "mean of -log(probability the model gave the true class)."
    )


def explain_view(config: Any) -> RenderableType:
    """`show --explain`: the input, each layer in words, the output neurons' classes, the total."""
    from fashionlab.views.explain import explain

    said = explain(config)
    text = Text()
    text.append("\nWhat each layer does\n", style="bold")
    text.append(said["input"] + "\n")
    for i, sentence in enumerate(said["layers"]):
        text.append(f"{i}. ", style="bold")
        text.append(sentence + "\n")
    text.append(said["output"] + "\n" + said["total"])
    return text


def most_confused(report: dict[str, Any], n: int = 3) -> str:
    """The n pairs of classes the model mixes up most often, from the confusion matrix, in words."""
    cm, names = report["confusion_matrix"], report["class_names"]
    pairs = sorted(((cm[i][j], i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i][j]),
                   reverse=True)[:n]  # fmt: skip
    if not pairs:
        return _("No test image was confused with another class.")
    said = "; ".join(
        _("{true} taken for {predicted} {count} times").format(
            true=class_word(names[i]), predicted=class_word(names[j]), count=count
        )
        for count, i, j in pairs
    )
    return _("Most confused: {pairs}.").format(pairs=said)


def evaluate_tables(report: dict[str, Any]) -> RenderableType:
    head = Text(
        (_("Run {run}, model of its best epoch: test loss {loss}, accuracy {accuracy} on {n} test images")
         if report.get("epoch") == "best" else
         _("Run {run}, model of its last epoch: test loss {loss}, accuracy {accuracy} on {n} test images")).format(
            run=report["run"], loss=f"{report['test_loss']:.4f}",
            accuracy=f"{report['test_accuracy']:.4f}", n=grouped(report['samples']),
        )
    )  # fmt: skip
    per = Table(title=_("Per class"), title_justify="left")
    per.add_column(_("class"))
    for col in (_("precision"), _("recall"), "f1", _("specificity"), _("support")):
        per.add_column(col, justify="right")
    for name, row in zip(report["class_names"], report["per_class"], strict=True):
        per.add_row(
            class_word(name), *(fmt(row[k]) for k in ("precision", "recall", "f1", "specificity")), str(row["support"])
        )
    per.add_section()
    macro = report["macro"]
    per.add_row(
        _("macro avg"),
        *(fmt(macro[k]) for k in ("precision", "recall", "f1", "specificity")),
        str(report["samples"]),
        style="bold",
    )
    cm = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0),  # 10 count columns fit 80 columns with counts up to 9999
    )
    cm.add_column(_("true \\ predicted "), no_wrap=True)
    for i in range(len(report["class_names"])):
        cm.add_column(str(i), justify="right", min_width=5, no_wrap=True)
    for i, row in enumerate(report["confusion_matrix"]):
        cells = (f"[bold]{v}[/bold]" if i == j else (str(v) if v else "[dim]0[/dim]") for j, v in enumerate(row))
        cm.add_row(f"{i} {class_word(report['class_names'][i], original=False)}", *cells)
    cm_title = Text(_("Confusion matrix (rows: true class, columns: predicted class by number)"), style="italic")
    return Group(head, per, cm_title, cm, Text(most_confused(report)))


SHADES = " .:-=+*#%@"  # dark to light, for terminals without colour


def image_text(pixels: list[list[int]], color: bool = True) -> Text:
    """A grayscale image in the terminal, each pixel repeated to about 28 wide (an 8x8 digit: 4 times):
    a row of '▀' per two pixel rows in colour, else a row of ASCII shades per pixel row."""
    times = max(1, 28 // max(1, len(pixels[0]) if pixels else 1))
    pixels = [[v for v in row for _ in range(times)] for row in pixels for _ in range(times)]
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


def prediction_view(pred: dict[str, Any], color: bool = True, columns: int = 80) -> RenderableType:
    """One image's prediction: the image, a bar per class, the sentence. The bars take what is left of
    `columns` after the class names and the numbers (30 characters at most, 10 at least)."""
    bars = Table(box=None, show_header=False, pad_edge=False)
    bars.add_column("class", no_wrap=True)
    bars.add_column("bar", no_wrap=True)
    bars.add_column("p", no_wrap=True)
    scores = pred.get("probabilities") is None
    values: dict[str, float] = pred["scores"] if scores else pred["probabilities"]
    top = max(max(abs(v) for v in values.values()), 1e-9)
    rows = []
    for i, (name, p) in enumerate(values.items()):
        style = "blue" if i == pred["true"] else ("red" if i == pred["predicted"] and pred["correct"] is False else "")
        if i == pred["predicted"] and pred["correct"] is not False:
            style = "bold blue"
        mark = " <- " + _("predicted") if i == pred["predicted"] else ""
        if i == pred["true"]:
            mark += " <- " + _("true class") if not mark else ", " + _("true class")
        number = f"{p:7.3f}{mark}" if scores else f"{p:6.1%}{mark}"
        rows.append((f"{i} {class_word(name)}", p, number, style))
    width = max(10, min(30, columns - max(len(r[0]) for r in rows) - max(len(r[2]) for r in rows) - 5))
    for label, p, number, style in rows:
        filled = round(max(p, 0.0) / top * width) if scores else round(p * width)
        bars.add_row(
            Text(label, style=style),
            Text("█" * filled + "·" * (width - filled), style=style or "dim"),
            Text(number, style=style),
        )
    what = _("scores") if scores else _("probabilities")
    shown = "" if scores else f" ({max(values.values()):.1%})"
    line = _("Predicted {name}{shown}: class {i}, the argmax of the {what}").format(
        name=class_word(pred["predicted_name"], original=False), shown=shown, i=pred["predicted"], what=what
    )
    if pred["true"] is not None:
        line += _("; true label {name}: {verdict}.").format(
            name=class_word(pred["true_name"], original=False), verdict=_("right") if pred["correct"] else _("wrong")
        )
        source = _("test image {i}").format(i=pred["index"])
    else:
        line += "."
        source = str(pred["image_file"]) + (_(" (inverted to a dark background)") if pred["inverted"] else "")
    head = Text(_("Run {run}, {source}").format(run=pred["run"], source=source))
    parts: list[RenderableType] = [head, image_text(pred["pixels"], color), bars]
    parts.append(Text(line, style="bold"))
    if scores:
        parts.append(Text(_("These are the network's raw scores, not probabilities: its last layer has no softmax.")))
    return Group(*parts)


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
    except Exception as exc:  # the store says which file and why: "run <id>: metrics.json is unreadable (...)"
        metrics = {}
        row["problem"] = str(exc).split(": ", 1)[-1]
    summary, test = metrics.get("summary", {}), metrics.get("test", {})
    row.update(
        epochs=run.info.epochs_done if run.info.epochs_done is not None else summary.get("epochs"),
        val_accuracy=summary.get("best", {}).get("val_accuracy"),
        test_accuracy=test.get("accuracy"),
        test_loss=test.get("loss"),
        backend=run.info.backend,
        started=run.info.started,
    )
    return row


def short_run_id(run_id: str) -> str:
    """A run id without its start time (20261206-091430-tutorial-62ac531f -> tutorial-62ac531f): the name and
    config hash, a unique part every command accepts; the whole id where it has no start time."""
    parts = run_id.split("-", 2)
    timed = len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and len(parts[0]) == 8
    return parts[2] if timed else run_id


PLAIN_ABOVE = 100  # rows; longer listings are drawn as plain aligned text (Rich tables cost ~0.5 ms a row)


def runs_table(rows: list[dict[str, Any]], width: int | None = None) -> tuple[RenderableType | str, list[Col]]:
    """Every run: id, status, test acc and loss, best val_acc, epochs, age, name; columns that do not fit in
    `width` are left out (and returned), the least useful first. Within a width the id is shortened to what
    follows its start time (`tutorial-epochs=25-62ac531f`, which every command accepts), so the numbers fit."""
    status = []
    for row in rows:
        cell = Text(status_word(row["status"]), style=STATUS_STYLE.get(row["status"], ""))
        if row.get("problem"):
            cell.append(f" ({row['problem']})")
        status.append(cell)
    short = collections.Counter(short_run_id(r["id"]) for r in rows)
    ids = [r["id"] if width is None or short[short_run_id(r["id"])] > 1 else short_run_id(r["id"]) for r in rows]
    cols = [
        Col("id", _("id"), 0, "left", cells=ids),
        Col("status", _("status"), 1, "left", cells=status, max_width=30),
        Col("test_accuracy", _("test\nacc"), 2, cells=[fmt(r.get("test_accuracy")) for r in rows]),
        Col("test_loss", _("test\nloss"), 2.5, cells=[fmt(r.get("test_loss")) for r in rows]),
        Col("val_accuracy", _("val_acc\nat best"), 3, cells=[fmt(r.get("val_accuracy")) for r in rows]),
        Col("epochs", _("epochs"), 4, cells=[fmt(r.get("epochs")) for r in rows]),
        Col("age", _("age"), 5, cells=[age(r.get("started")) for r in rows]),
        Col("name", _("name"), 6, "left", cells=[r["name"] for r in rows]),
    ]
    if len(rows) > PLAIN_ABOVE:
        shown = choose(cols, width, wraps=False)
        return plain(shown, _("Runs")), [c for c in cols if c not in shown]
    return fit(cols, width, _("Runs"))


def status_word(status: str) -> str:
    """A run's status in the chosen language (run.json and --json keep the English word)."""
    return {
        "pending": _("pending"), "running": _("running"), "completed": _("completed"), "interrupted": _("interrupted"),
        "failed": _("failed"), "diverged": _("diverged"), "pruned": _("pruned"), "broken": _("broken"),
    }.get(status, status)  # fmt: skip


def configs_table(found: list[dict[str, str]], width: int | None) -> tuple[RenderableType, list[Col]]:
    """The shipped configs: name and what each is for (wrapped, never cut), then where it is."""
    cols = [
        Col("name", _("name"), 0, "left", cells=[c["name"] for c in found]),
        Col("description", _("what it is"), 1, "left", cells=[c["description"] for c in found], max_width=60),
        Col("path", _("file"), 2, "left", cells=[c["path"] for c in found]),
    ]
    return fit(cols, width, _("Shipped configs (--config NAME)"))


def prediction_records(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per image of `predict_many` (the rows of --format csv, and of the table)."""
    records = []
    for p in result["predictions"]:
        values = p["probabilities"] or p["scores"]
        records.append({
            "index": p["index"], "image": p["image_file"], "predicted": p["predicted_name"],
            "probability" if p["probabilities"] else "score": values[p["predicted_name"]],
            "true": p["true_name"], "correct": p["correct"],
        })  # fmt: skip
    return records


def predictions_table(result: dict[str, Any], width: int | None) -> tuple[RenderableType, list[Col]]:
    """Several predictions, a row each, then the accuracy over the images whose class is known."""
    records = prediction_records(result)
    first = "image" if records and records[0]["image"] is not None else "index"
    value = "probability" if records and "probability" in records[0] else "score"
    marks: dict[bool | None, str | Text] = {True: Text(_("yes"), style="green"), False: Text(_("no"), style="red"),
                                            None: ""}  # fmt: skip
    heads = {"index": _("index"), "image": _("image"), "probability": _("probability"), "score": _("score")}
    cols = [
        Col(first, heads.get(first, first), 0, "right" if first == "index" else "left",
            cells=[str(r[first]) for r in records]),
        Col("predicted", _("predicted"), 0, "left", cells=[class_word(r["predicted"]) for r in records]),
        Col(value, heads[value], 1, cells=[f"{r[value]:.3f}" for r in records]),
        Col("true", _("true class"), 1, "left", cells=[class_word(r["true"]) if r["true"] else "" for r in records]),
        Col("correct", _("correct"), 0, "left", cells=[marks[r["correct"]] for r in records]),
    ]  # fmt: skip
    table, dropped = fit(cols, width, _("Predictions of run {run}").format(run=result["run"]))
    if result["accuracy"] is None:
        return table, dropped
    said = Text(
        _("Accuracy over {n} test images: {accuracy} ({right} right, {wrong} wrong)").format(
            n=grouped(result["labelled"]),
            accuracy=f"{result['accuracy']:.3f}",
            right=grouped(result["correct"]),
            wrong=grouped(result["labelled"] - result["correct"]),
        )
    )
    return Group(table, said), dropped
