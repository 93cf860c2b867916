"""The lab report: a Markdown (or self-contained HTML) page a student could hand in.

What was run, what differs, the comparison table, learning curves, the best run's confusion matrix,
example predictions (right and wrong) with their images, and observations computed from the numbers.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from fashionlab.store import Run, write_atomic
from fashionlab.views import compare as tables
from fashionlab.views import groups, plots
from fashionlab.views.observations import observations
from fashionlab.views.tables import article

# The best run's test evaluation and its predictions of the first test images (the engine makes them).
Inspect = Callable[[Run], tuple[dict[str, Any], list[dict[str, Any]]]]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: list[dict[str, Any]] | None = None
    code: str | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG)


def build(
    runs: list[Run],
    inspect: Inspect,
    sort: str = "best_val_accuracy",
    title: str = "Fashion-MNIST lab report",
    csv_name: str = "report.csv",
) -> list[Section]:
    """All sections of the report; `inspect` evaluates the best run and predicts test images with it."""
    rows = tables.sort_rows([tables.compare_row(r) for r in runs], sort)
    keys = tables.varying_keys(rows)
    axes = [k for k in keys if k not in ("name",)]
    plural = "s" if len(runs) != 1 else ""
    written = f"{len(runs)} run{plural}, written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by fashionlab."
    sections = [Section(title, [written])]
    differs = ", ".join(tables.short_key(k) for k in keys) if keys else "nothing (a single run)"
    config = next(r for r in runs if r.id == rows[0]["run"]).resolved_config()
    said = [text[0].upper() + text[1:] + "." for _, text in _advice(runs)]
    what = Section("What was run", [f"What differs between the runs: {differs}.", *said, "The best run's full config:"])
    what.code = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    sections.append(what)
    found = groups.settings(rows, keys, sort)
    if groups.repeated(found):
        results = groups.grouped_cells(found, sort)
        note = (
            f"One row per setting (mean ± sd over its seeds), best mean {sort} first (★); vs best: Welch's "
            f"t-test over the seeds, tied: p >= 0.05. Every column of every run: {csv_name}."
        )
    else:
        results = tables.compact_records(rows, keys, sort, axes)
        note = f"Sorted by {sort}, best first (★). Every column of every run: {csv_name}."
    sections.append(Section("Results", [note], table=results))
    sections.append(Section("Observations", observations(rows, keys)))
    curves = Section(
        "Learning curves",
        ["Solid: training, dashed: validation; dots mark each trial's best epoch (lowest val_loss), "
         "bars where a trial that shares its training with others ends."],
    )  # fmt: skip
    curves.images.append(("Learning curves", groups.curves_png(runs, sort)))
    sections.append(curves)
    best = next(r for r in runs if r.id == rows[0]["run"])
    if best.has_model:
        sections += _best_run_sections(best, inspect)
    return sections


def _best_run_sections(best: Run, inspect: Inspect) -> list[Section]:
    """The best run's confusion matrix and example predictions, right and wrong."""
    evaluation, predictions = inspect(best)
    worst = sorted(range(len(evaluation["class_names"])), key=lambda i: evaluation["per_class"][i]["f1"])[:2]
    names = evaluation["class_names"]
    confusion = Section(
        f"Confusion matrix of the best run ({best.id})",
        [f"The model of its {evaluation.get('epoch', 'last')} epoch: test accuracy {evaluation['test_accuracy']:.4f}. "
         "The hardest classes (lowest F1) are "
         + " and ".join(f"{names[i]} ({evaluation['per_class'][i]['f1']:.3f})" for i in worst) + "."],
        images=[("Confusion matrix", plots.confusion_png(evaluation))],
    )  # fmt: skip
    examples = Section("Example predictions", ["Three test images the best run gets right and three it gets wrong."])
    chosen = [p for p in predictions if p["correct"]][:3] + [p for p in predictions if not p["correct"]][:3]
    for pred in chosen:
        verdict = "right" if pred["correct"] else f"wrong, it is {article(pred['true_name'])}"
        caption = f"Test image {pred['index']}: {pred['predicted_name']} ({verdict})"
        examples.images.append((caption, plots.prediction_png(pred)))
    return [confusion, examples]


def _advice(runs: list[Run]) -> list[tuple[str, str]]:
    """The warnings and notes about these runs' configs, each once (one-hot labels, scores)."""
    from fashionlab.config import Source, validate
    from fashionlab.errors import ConfigError
    from fashionlab.network import advice

    said: dict[tuple[str, str], None] = {}
    for run in runs:
        try:
            said.update(dict.fromkeys(advice(validate(run.resolved_config(), Source(None, {})))))
        except ConfigError:
            continue
    return list(said)


def full_table_csv(runs: list[Run], sort: str) -> str:
    """Every column of every run (what `compare --format csv` gives), written beside the report."""
    rows = tables.sort_rows([tables.compare_row(r) for r in runs], sort)
    return tables.records_csv(tables.compare_records(rows, tables.varying_keys(rows)))


def to_markdown(sections: list[Section], out: Path) -> None:
    """report.md plus its pictures in report_files/ beside it. The pictures are written into a hidden
    folder first, which becomes report_files/ only once report.md is written too: a full disk or a
    signal leaves the earlier report (or nothing), never half of a new one."""
    import shutil
    import tempfile

    folder = out.with_name(out.stem + "_files")
    making = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{folder.name}."))
    try:
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
                write_atomic(making / name, png)
                lines += [f"![{caption}]({folder.name}/{name})", f"*{caption}*", ""]
        write_atomic(making / out.name, "\n".join(lines) + "\n")
        old = folder.with_name(f".{folder.name}.old") if folder.is_dir() and not folder.is_symlink() else None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        os.replace(making / out.name, out)
        making.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(making, ignore_errors=True)


def to_html(sections: list[Section], out: Path) -> None:
    """One self-contained HTML file (pictures as data URIs) from templates/report.html.j2, with print CSS."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fashionlab.views", "templates"), autoescape=True, trim_blocks=True
    )
    encoded = [
        {**vars(s), "images": [(caption, base64.b64encode(png).decode()) for caption, png in s.images]}
        for s in sections
    ]
    write_atomic(out, env.get_template("report.html.j2").render(sections=encoded))
