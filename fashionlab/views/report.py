"""The lab report: a Markdown (or self-contained HTML) page a student could hand in.

What was run, what differs, the comparison table, learning curves, the best run's confusion matrix,
example predictions (right and wrong) with their images, and observations computed from the numbers.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from fashionlab.data import split_counts
from fashionlab.i18n import _, class_word
from fashionlab.results import DEFAULT_SORT, Results, collect, sort_runs, summary_of, varying_keys
from fashionlab.store import Run, output, write_atomic
from fashionlab.text import markdown_text, visible
from fashionlab.views import compare as tables
from fashionlab.views import groups, plots
from fashionlab.views import inside as inside_views
from fashionlab.views.explain import explain
from fashionlab.views.metrics_words import definitions
from fashionlab.views.observations import change_words, finding_text, observations, task_words
from fashionlab.views.tables import most_confused

# The best run's test evaluation and its predictions of the first test images (the engine makes them).
# and inside its network: its weights ("weights", "beside": another epoch's) and one image's way ("image").
Inspect = Callable[[Run], tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: list[dict[str, Any]] | None = None
    code: str | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG)
    level: int = 2  # 1: the report's title, 2: a part, 3: a section of a part
    bullets: bool = False  # paragraphs as a list (observations)


Group = tuple[str, list[Run], list[str]]  # a part of the report: its title, its runs, the sweep's axes


def build(
    parts: list[Group],
    inspect: Inspect,
    sort: str = DEFAULT_SORT,
    title: str | None = None,
    csv_name: str = "report.csv",
    known: dict[str, Any] | None = None,
) -> list[Section]:
    """All sections of the report, one part per group of runs (a sweep, or runs of one task); `inspect`
    evaluates each part's best run and predicts test images with it."""
    n = sum(len(runs) for _name, runs, _axes in parts)
    written = _("{runs}, written {when} UTC by fashionlab.").format(
        runs=_("1 run") if n == 1 else _("{n} runs").format(n=n), when=f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    )
    every = _("Every column of every run: {file}.").format(file=csv_name)
    known = known or summaries([r for _name, runs, _axes in parts for r in runs])
    data = " + ".join(sorted({s.data for s in known.values()})) or "Fashion-MNIST"
    sections = [Section(title or _("{data} lab report").format(data=data), [written, every], level=1)]
    if len(parts) == 1:
        return sections + part(parts[0][1], inspect, sort, parts[0][2], level=2, known=known)
    listed = "; ".join(f"{t} ({_('1 run') if len(r) == 1 else _('{n} runs').format(n=len(r))})" for t, r, _a in parts)
    sections[0].paragraphs.append(_("{n} parts, each compared on its own: {parts}.").format(n=len(parts), parts=listed))
    for name, runs, axes in parts:
        sections.append(Section(name, level=2))
        sections += part(runs, inspect, sort, axes, level=3, known=known)
    return sections


def summaries(runs: list[Run], histories: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every run of the report read once: each part's results, and the pool of repeats they measure from
    (`histories`: the history.csv of each run, where the caller read it already)."""
    found = histories or {}
    return {r.id: summary_of(r, found.get(r.id)) for r in runs}


def part(
    runs: list[Run], inspect: Inspect, sort: str, axes: list[str], level: int, known: dict[str, Any] | None = None
) -> list[Section]:
    """One group of runs: what was run, the table, the observations, the curves, the best run's pictures.
    Runs of different tasks (classes, image size) are split into one part each, never ranked together."""
    res = collect(runs, sort, axes, known)
    if res.of("tasks_differ"):
        tasks: dict[str, list[Run]] = {}
        for summary, run in zip([summary_of(r) for r in runs], runs, strict=True):
            tasks.setdefault(summary.task, []).append(run)
        out = [Section(_("Tasks"), [finding_text(res.of("tasks_differ")[0])], level=level)]
        for task, chosen in tasks.items():
            words = task_words(task)
            out.append(Section(words[0].upper() + words[1:], level=level))
            out += part(chosen, inspect, sort, axes, level + 1, known)
        return out
    return _what_was_run(res, runs, level) + _results(res, runs, level) + _pictures(res, runs, inspect, level)


def _what_was_run(res: Results, runs: list[Run], level: int) -> list[Section]:
    keys = list(dict.fromkeys("layers" if k.startswith("layers.") else k for k in res.keys))
    changes = {
        f.numbers["to"]: ", ".join(change_words(c) for c in f.numbers["changes"]) for f in res.of("architecture")
    }
    named = []
    for key in keys:
        name = tables.short_key(key)
        if key == "layers" and changes:
            name += " (" + "; ".join(f"{to}: {what}" for to, what in changes.items()) + ")"
        elif key == "layers":
            name = _("layers")
        named.append(name)
    differs = ", ".join(named) if named else _("nothing (a single run)")
    advice = [text[0].upper() + text[1:] + "." for _, text in _advice(runs)]
    best = res.runs[0].run
    config = next(r for r in runs if r.id == best).resolved_config()
    checked = _validated(config)
    split = [split_counts(checked).sentence()] if checked is not None else []
    said = [_("What differs between the runs: {keys}.").format(keys=differs), *split, *advice,
            _("The best run's full config:")]  # fmt: skip
    what = Section(_("What was run"), said, level=level)
    what.code = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    if checked is None:
        return [what]
    words = explain(checked)
    network = Section(
        _("The network of the best run, layer by layer ({name})").format(name=checked.name),
        [words["input"], *(_("Layer {i}: {text}").format(i=i, text=t) for i, t in enumerate(words["layers"])),
         words["output"], words["total"]],
        level=level, bullets=True,
    )  # fmt: skip
    return [what, network]


def _validated(config: dict[str, Any]) -> Any:
    """A run's resolved config as a Config, or None where it no longer validates."""
    from fashionlab.config import Source, validate
    from fashionlab.errors import ConfigError

    try:
        return validate(config, Source(None, {}))
    except ConfigError:
        return None


def _results(res: Results, runs: list[Run], level: int) -> list[Section]:
    if res.repeated:
        table, note = groups.grouped_cells(res), groups.legend(res)
    else:
        axes = [k for k in res.keys if k != "name"]
        table, note = tables.compact_records(res, res.keys, axes), tables.legend(res)
    caption = (
        _("Each setting's mean over its seeds with a band of ± one sd; solid: training, dashed: validation.")
        if res.repeated  # these figures draw no best-epoch dots (issue 32): the caption says what they do draw
        else _("Solid: training, dashed: validation; dots mark each trial's best epoch (lowest val_loss), "
               "hollow markers (named in the legend) where a trial that shares its training with others ends.")
    )  # fmt: skip
    curves = Section(_("Learning curves"), [caption], level=level)
    curves.images.append((_("Learning curves"), groups.curves_png(runs, res)))
    from fashionlab.views.tables import loss_words

    return [
        Section(_("Results"), [note, loss_words()], table=table, level=level),
        Section(_("Observations"), observations(res), level=level, bullets=True),
        curves,
    ]


def _pictures(res: Results, runs: list[Run], inspect: Inspect, level: int) -> list[Section]:
    best = next(r for r in runs if r.id == res.runs[0].run)
    if not best.has_model:
        return []
    at_chance = res.of("chance") and res.of("chance")[0].runs == [best.id]
    return _best_run_sections(best, inspect, level, bool(at_chance)) + calibration(res, level)


def calibration(res: Results, level: int) -> list[Section]:
    """The reliability diagram of the models compared: the best run's, and the two of the loss finding (an
    epochs sweep) or else the next setting's, each from its per-image evidence (runs without it are left out)."""
    said, models = calibration_words(res)
    if not models:
        return []
    return [Section(_("Calibration"), [said], images=[(_("Reliability diagram"), plots.reliability_png(models))],
                    level=level)]  # fmt: skip


def calibration_words(res: Results) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """What the reliability diagram says in words, and the models it draws (none: nothing to draw)."""
    from fashionlab import evidence

    by_run = {r.run: r for r in res.runs}
    chosen = [res.runs[0].run]
    grew = res.of("loss_grew")
    if grew and grew[0].numbers.get("paired"):
        chosen += [grew[0].numbers["paired"]["run_a"], grew[0].numbers["paired"]["run_b"]]
    elif res.comparisons:
        chosen.append(res.comparisons[0].a_runs[0])
    models = []
    for run_id in dict.fromkeys(chosen):
        row = by_run.get(run_id)
        found = row.images() if row is not None and row.images else None
        if found is not None and found.kept.has_probabilities:
            models.append((res.labels.get(run_id, run_id), evidence.calibration(found.kept)))
    if not models:
        return "", []
    eces = ", ".join(f"{name} {found['ece']:.3f}" for name, found in models)
    said = _(
        "How often each model is right when it gives an answer a given probability, from its answers on the test "
        "images. On the diagonal it is as sure as it is right; below it, more sure than right (overconfident). "
        "Expected calibration error (ECE, {bins} bins; 0 is perfectly calibrated): {eces}."
    ).format(bins=models[0][1]["bins"], eces=eces)
    return said, models


def _best_run_sections(best: Run, inspect: Inspect, level: int, at_chance: bool) -> list[Section]:
    """The best run's confusion matrix and example predictions, right and wrong."""
    evaluation, predictions, inside = inspect(best)
    worst = sorted(range(len(evaluation["class_names"])), key=lambda i: evaluation["per_class"][i]["f1"])[:2]
    names = evaluation["class_names"]
    confusion = Section(
        _("Confusion matrix of the best run ({run})").format(run=best.id),
        [(_("The model of its best epoch: test accuracy {accuracy}. The hardest classes (lowest F1) are {classes}.")
          if evaluation.get("epoch") == "best" else
          _("The model of its last epoch: test accuracy {accuracy}. The hardest classes (lowest F1) are {classes}."))
         .format(
                 accuracy=f"{evaluation['test_accuracy']:.4f}",
                 classes=_(" and ").join(f"{class_word(names[i])} ({evaluation['per_class'][i]['f1']:.3f})"
                                         for i in worst)),
         most_confused(evaluation), *definitions(evaluation)],
        images=[(_("Confusion matrix"), plots.confusion_png(evaluation))], level=level,
    )  # fmt: skip
    intro = _("Three test images the best run gets right and three it gets wrong.")
    if at_chance:
        intro += _(" This model is at chance level: its right answers are lucky guesses.")
    examples = Section(_("Example predictions"), [intro], level=level)
    chosen = [p for p in predictions if p["correct"]][:3] + [p for p in predictions if not p["correct"]][:3]
    captions = []
    for pred in chosen:
        verdict = (
            _("right") if pred["correct"] else _("wrong, it is {truth}").format(truth=class_word(pred["true_name"]))
        )
        captions.append(_("test image {i}: {name} ({verdict})").format(
            i=pred["index"], name=class_word(pred["predicted_name"]), verdict=verdict))  # fmt: skip
    examples.paragraphs.append("; ".join(captions) + ".")
    if chosen:
        examples.images.append((_("Predictions, right (blue) and wrong (red)"), plots.prediction_grid_png(chosen)))
    words, pictures = inside_views.report_part(inside)
    network = Section(_("Inside the best run's network"), words, images=pictures, level=level)
    return [confusion, examples, network]


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


def full_table_csv(runs: list[Run], sort: str, known: dict[str, Any] | None = None) -> str:
    """Every column of every run (what `compare --format csv` gives), written beside the report."""
    rows = sort_runs([known[r.id] if known and r.id in known else summary_of(r) for r in runs], sort)
    return tables.records_csv(tables.compare_records(rows, varying_keys(rows)))


def to_json(parts: list[Group], sort: str, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """`report --format json`: each part's results (runs, comparisons, findings with their numbers) and
    the observations rendered from them."""
    out, known = [], known or summaries([r for _name, runs, _axes in parts for r in runs])
    for name, runs, axes in parts:
        res = collect(runs, sort, axes, known)
        out.append({"title": name, **res.to_json(), "observations": observations(res)})
    return {"parts": out}


def to_markdown(sections: list[Section], out: Path, table_csv: str, force: bool = False) -> None:
    """report.md plus its pictures and the full table (runs.csv) in report_files/ beside it, through the
    safe writer's rules: the folder is filled under a hidden name and becomes report_files/ only once
    report.md is written too (a full disk or a signal leaves the earlier report, or nothing); an existing
    report.md or report_files/ that fashionlab did not make is never replaced (without `force`)."""
    folder = out.with_name(out.stem + "_files")
    output.check_target(out, (".md",), "the report", force)
    output.check_target(folder, (), "the report's pictures", force, folder=True)
    output.remove_stale(out.parent, folder.name)
    output.remove_stale(out.parent, out.name)
    making = output.temp_folder(folder)
    try:
        lines: list[str] = [output.MD_MARK, ""]
        n = 0
        for s in sections:
            lines.append("#" * s.level + " " + markdown_text(s.title))
            lines.append("")
            for p in s.paragraphs:
                lines += [("- " + markdown_text(p)) if s.bullets else markdown_text(p), ""]
            if s.code:
                lines += ["```yaml", visible(s.code.rstrip(), newlines=True).replace("```", "` ` `"), "```", ""]
            if s.table:
                lines.append(tables.records_markdown(s.table))
            for caption, png in s.images:
                n += 1
                name = f"figure{n}.png"
                write_atomic(making / name, png)
                lines += [f"![{markdown_text(caption)}]({folder.name}/{name})", f"*{markdown_text(caption)}*", ""]
        write_atomic(making / TABLE_CSV, table_csv)
        output.mark_folder(making)
        with output.temp_file(out) as text:
            Path(text).write_text("\n".join(lines) + "\n")
            output.replace_folder(making, folder)
            os.replace(text, out)
    finally:
        shutil.rmtree(making, ignore_errors=True)


def check_targets(out: Path, as_html: bool, force: bool) -> None:
    """Refuse the report's paths before any work (the safe writer's rules): the page, and for Markdown
    the folder of its pictures."""
    if as_html:
        output.check_target(out, (".html", ".htm"), "the report", force, stem="report")
    else:
        output.check_target(out, (".md",), "the report", force, stem="report")
        output.check_target(out.with_name(out.stem + "_files"), (), "the report's pictures", force, folder=True)


TABLE_CSV = "runs.csv"  # every column of every run, in the report's folder (or inside the HTML page)


def to_html(sections: list[Section], out: Path, table_csv: str, force: bool = False) -> None:
    """One self-contained HTML file (pictures and the full table as data URIs) from templates/report.html.j2,
    with print CSS; written by the safe writer (never over a file fashionlab did not make, without `force`)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fashionlab.views", "templates"), autoescape=True, trim_blocks=True
    )
    encoded = [
        {**vars(s), "images": [(caption, base64.b64encode(png).decode()) for caption, png in s.images]}
        for s in sections
    ]
    from fashionlab.i18n import language

    page = env.get_template("report.html.j2").render(
        sections=encoded,
        lang=language(),
        mark=output.HTML_MARK,
        table_csv=base64.b64encode(table_csv.encode()).decode(),
    )
    output.write_output(out, page, (".html", ".htm"), "the report", force)
