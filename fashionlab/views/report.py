"""The lab report: a Markdown (or self-contained HTML) page a student could hand in.

What was run, what differs, the comparison table, learning curves, the best run's confusion matrix,
example predictions (right and wrong) with their images, and observations computed from the numbers.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from fashionlab.store import Run, write_atomic
from fashionlab.views import compare as tables
from fashionlab.views import plots

# The best run's test evaluation and its predictions of the first test images (the engine makes them).
Inspect = Callable[[Run], tuple[dict[str, Any], list[dict[str, Any]]]]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: list[dict[str, Any]] | None = None
    code: str | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def observations(rows: list[dict[str, Any]], keys: list[str], sort: str) -> list[str]:
    """Sentences computed from the runs: the winner and its margin, overfitting, what each setting did."""
    done = [r for r in rows if r.get(sort) is not None]
    notes: list[str] = []
    if not done:
        return ["No run has finished, so there is nothing to compare yet."]
    best = done[0]
    label = ", ".join(f"{tables.short_key(k)}={best['config'].get(k)}" for k in keys) or best["run"]
    notes.append(
        f"The best run by {sort} is {best['run']} ({label}): {sort} {best[sort]:.4f}, "
        f"test accuracy {best.get('test_accuracy') or float('nan'):.4f}."
    )
    if len(done) > 1:
        second, worst = done[1], done[-1]
        notes.append(
            f"It beats the runner-up by {abs(best[sort] - second[sort]):.4f} and the last of {len(done)} runs by "
            f"{abs(best[sort] - worst[sort]):.4f}."
        )
    for key in keys:
        groups: dict[str, list[float]] = {}
        for r in done:
            groups.setdefault(str(r["config"].get(key)), []).append(r[sort])
        if len(groups) > 1:
            means = sorted(((sum(v) / len(v), k) for k, v in groups.items()), reverse="loss" not in sort)
            shown = ", ".join(f"{k}: {m:.4f}" for m, k in means)
            notes.append(f"Averaged over the other settings, {tables.short_key(key)} gives {sort} {shown}.")
    for r in rows:
        if r.get("overfitting"):
            notes.append(
                f"{r['run']} overfits: val_loss was lowest at epoch {r['best_epoch']} of {r['epochs']} "
                f"({r['best_val_loss']:.4f}) and ended at {r['val_loss']:.4f} while the training loss kept falling."
            )
    gaps = [
        (r["best_accuracy"] - r["best_val_accuracy"], r)
        for r in done
        if r.get("best_accuracy") is not None and r.get("best_val_accuracy") is not None
    ]
    if gaps:
        gap, r = max(gaps, key=lambda g: g[0])
        notes.append(f"The largest gap between training and validation accuracy is {_pct(gap)} ({r['run']}).")
    return notes


def build(
    runs: list[Run], inspect: Inspect, sort: str = "best_val_accuracy", title: str = "Fashion-MNIST lab report"
) -> list[Section]:
    """All sections of the report; `inspect` evaluates the best run and predicts test images with it."""
    rows = tables.sort_rows([tables.compare_row(r) for r in runs], sort)
    keys = tables.varying_keys(rows)
    sections = [Section(title, [f"{len(runs)} run(s), written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by fashionlab."])]
    differs = ", ".join(tables.short_key(k) for k in keys) if keys else "nothing (a single run)"
    config = next(r for r in runs if r.id == rows[0]["run"]).resolved_config()
    what = Section("What was run", [f"What differs between the runs: {differs}.", "The best run's full config:"])
    what.code = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    sections.append(what)
    results = tables.compare_records(rows, keys)
    sections.append(Section("Results", [f"Sorted by {sort}, best first."], table=results))
    sections.append(Section("Observations", observations(rows, keys, sort)))
    curves = Section("Learning curves", ["Solid: training, dashed: validation; dots mark each run's best epoch."])
    curves.images.append(("Learning curves", plots.curves_png(runs)))
    sections.append(curves)
    best = next(r for r in runs if r.id == rows[0]["run"])
    if best.has_model:
        sections += _best_run_sections(best, inspect)
    return sections


def _best_run_sections(best: Run, inspect: Inspect) -> list[Section]:
    """The best run's confusion matrix and example predictions, right and wrong."""
    evaluation, predictions = inspect(best)
    worst = sorted(range(10), key=lambda i: evaluation["per_class"][i]["f1"])[:2]
    names = evaluation["class_names"]
    confusion = Section(
        f"Confusion matrix of the best run ({best.id})",
        [f"Test accuracy {evaluation['test_accuracy']:.4f}. The hardest classes (lowest F1) are "
         + " and ".join(f"{names[i]} ({evaluation['per_class'][i]['f1']:.3f})" for i in worst) + "."],
        images=[("Confusion matrix", plots.confusion_png(evaluation))],
    )  # fmt: skip
    examples = Section("Example predictions", ["Three test images the best run gets right and three it gets wrong."])
    chosen = [p for p in predictions if p["correct"]][:3] + [p for p in predictions if not p["correct"]][:3]
    for pred in chosen:
        verdict = "right" if pred["correct"] else f"wrong, it is a {pred['true_name']}"
        caption = f"Test image {pred['index']}: {pred['predicted_name']} ({verdict})"
        examples.images.append((caption, plots.prediction_png(pred)))
    return [confusion, examples]


def to_markdown(sections: list[Section], out: Path) -> None:
    """report.md plus its pictures in report_files/ beside it."""
    folder = out.with_name(out.stem + "_files")
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    n = 0
    for i, s in enumerate(sections):
        lines.append(("# " if i == 0 else "## ") + s.title)
        lines.append("")
        for p in s.paragraphs:
            lines += [("- " + p) if s.title == "Observations" else p, ""]
        if s.code:
            lines += ["```yaml", s.code.rstrip(), "```", ""]
        if s.table:
            lines.append(tables.records_markdown(s.table))
        for caption, png in s.images:
            n += 1
            name = f"figure{n}.png"
            write_atomic(folder / name, png)
            lines += [f"![{caption}]({folder.name}/{name})", f"*{caption}*", ""]
    write_atomic(out, "\n".join(lines) + "\n")


def to_html(sections: list[Section], out: Path) -> None:
    """One self-contained HTML file: the pictures are embedded as data URIs."""
    e = html.escape
    body: list[str] = []
    for i, s in enumerate(sections):
        body.append(f"<h{1 if i == 0 else 2}>{e(s.title)}</h{1 if i == 0 else 2}>")
        if s.title == "Observations":
            body.append("<ul>" + "".join(f"<li>{e(p)}</li>" for p in s.paragraphs) + "</ul>")
        else:
            body += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        if s.code:
            body.append(f"<pre>{e(s.code)}</pre>")
        if s.table:
            head = "".join(f"<th>{e(k)}</th>" for k in s.table[0])
            rows = "".join(
                "<tr>" + "".join(f"<td>{e(tables.cell(v))}</td>" for v in r.values()) + "</tr>" for r in s.table
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        for caption, png in s.images:
            data = base64.b64encode(png).decode()
            img = f'<img src="data:image/png;base64,{data}" alt="{e(caption)}">'
            body.append(f"<figure>{img}<figcaption>{e(caption)}</figcaption></figure>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:12px;display:block;overflow-x:auto}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto}img{max-width:100%}figcaption{color:#555;font-size:13px}"
    )
    head = f"<meta charset='utf-8'><title>{e(sections[0].title)}</title><style>{style}</style>"
    page = f"<!doctype html><html><head>{head}</head><body>{''.join(body)}</body></html>"
    write_atomic(out, page)
