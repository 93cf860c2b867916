"""The use cases that read: a data set, a config's network, a run's predictions, the lab report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashionlab.config import Config
from fashionlab.errors import ConfigError, RunError, StorageError
from fashionlab.store import Run, RunStore
from fashionlab.store.output import shown_path


@dataclass
class DataView:
    """A data set as a config sees it (its classes, relabelled, and its image size), or whole."""

    dataset: Any  # datasets.DataSet
    summary: Any  # data.DataSummary: shapes, dtypes, per-class counts of both splits
    config: Config | None = None

    def images(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The images and labels of one split ("train" or "test"), as the config trains on them."""
        train, test = self.dataset.load()
        x, y = train if split == "train" else test
        return (x, y) if self.config is None else self.pick(x, y)

    def pick(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The config's classes (relabelled) at its image size."""
        from fashionlab.engine.inputs import resize, select

        assert self.config is not None
        chosen_x, chosen_y = select(x, y, self.config)
        return resize(chosen_x, self.config.image_hw), chosen_y


def data(name: str | None = None, config: Config | None = None) -> DataView:
    """The data set `name` (default: the config's, else Fashion-MNIST), summarized as `config` uses it."""
    from fashionlab import data as fdata
    from fashionlab import datasets

    dataset = config.dataset if config is not None and name is None else datasets.get(name)
    if config is None:
        return DataView(dataset, fdata.summarize(dataset))
    view = DataView(dataset, None, config)
    view.summary = fdata.summarize(dataset, view.pick, config.class_names)
    return view


@dataclass
class Network:
    """A config's network: its layers' rows, what its labels are and whether its outputs are logits."""

    config: Config
    rows: list[Any]  # network.LayerRow
    labels: str  # "integer" or "one-hot", in the reader's language
    from_logits: bool | None  # None: the config cannot be trained as it is (the table says why)

    def to_json(self, explain: bool = False) -> dict[str, Any]:
        found = {
            "name": self.config.name, "input_shape": self.config.input_shape, "layers": [vars(r) for r in self.rows],
            "total_params": sum(r.params for r in self.rows), "labels": self.labels, "from_logits": self.from_logits,
        }  # fmt: skip
        if explain:
            from fashionlab.views.explain import explain as in_words

            found["explain"] = in_words(self.config)
        return found


def network(config: Config) -> Network:
    from fashionlab.i18n import _
    from fashionlab.network import from_logits, layer_rows

    try:
        logits: bool | None = from_logits(config)
    except ConfigError:
        logits = None
    return Network(config, layer_rows(config), _("integer") if config.loss.sparse else _("one-hot"), logits)


@dataclass
class Predicted:
    """A run's answer on one image (`result`: inference.predict_run's) or several (predict_many's)."""

    run: Run
    result: dict[str, Any]
    at_chance: str | None  # the sentence saying its model learned nothing, or None

    def to_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.result.items() if k != "pixels"}, "at_chance": self.at_chance is not None}


def at_chance(run: Run) -> str | None:
    """The sentence that says a run's model learned nothing (its test accuracy is chance), or None."""
    from fashionlab.results import summary_of
    from fashionlab.results.findings import chance
    from fashionlab.views.observations import finding_text

    row = summary_of(run)
    found = chance(row, row.name)
    return finding_text(found[0]) if found else None


def predict(run: Run, index: int | None = None, image: str | None = None, epoch: str = "last") -> Predicted:
    """One test image (`index`) or image file through the run's model."""
    from fashionlab.engine.inference import predict_run

    return Predicted(run, predict_run(run, index, image, epoch), at_chance(run))


def predict_many(
    run: Run, index: str | None = None, images: list[str] | None = None, epoch: str = "last",
    errors: int | None = None, pixels: bool = False,
) -> Predicted:  # fmt: skip
    """Several images: test indices (`index`: A:B or A,B,C), files or folders, or the `errors` test images
    the model gets wrong most confidently; `pixels` keeps each image for a picture."""
    from fashionlab.engine.inference import predict_many as many

    return Predicted(run, many(run, index, images, epoch, errors, pixels), at_chance(run))


@dataclass
class Reported:
    """A lab report: where it was written and its full table's CSV (or, as JSON, its data); the runs left
    out because they are broken, with why."""

    path: Path | None = None
    table: str | None = None
    data: dict[str, Any] | None = None
    left_out: list[tuple[str, str]] = field(default_factory=list)


def report(
    runs: RunStore, refs: list[str] | None, sweep_id: str | None, fmt: str, out_file: Path | None,
    epoch: str = "last", sort: str = "test_accuracy", force: bool = False,
) -> Reported:  # fmt: skip
    """The report of the runs named (or a sweep's, or all: one part per sweep and per task) as Markdown,
    HTML or JSON; every run is read once, and a broken one is left out (said), not the whole report."""
    from fashionlab.views import report as views

    if fmt != "json":
        views.check_targets(out_file or Path(f"report.{fmt}"), fmt == "html", force)
    selection = runs.select(refs, sweep_id, "all")
    histories: dict[str, Any] = {}
    found = Reported()
    chosen = [r for r in selection.runs if usable(r, histories, found.left_out, models=fmt != "json")]
    if not chosen:
        raise RunError("no run can go into the report (every one is broken, see the warnings); train one first")
    axes = list(selection.axes or [])
    known = views.summaries(chosen, histories)  # every run read once, for every part
    parts = parts_of(runs, chosen, axes, known) if not refs and not sweep_id else [(selection.title, chosen, axes)]
    if fmt == "json":
        found.data = views.to_json(parts, sort, known)
        return found
    found.path = out_file = out_file or Path(f"report.{fmt}")
    found.table = views.TABLE_CSV if fmt == "html" else f"{out_file.stem}_files/{views.TABLE_CSV}"
    sections = views.build(parts, lambda run: _inspect(run, epoch), sort, csv_name=found.table, known=known)
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        write: Callable[..., Any] = views.to_html if fmt == "html" else views.to_markdown
        write(sections, out_file, views.full_table_csv(chosen, sort, known), force)
    except OSError as exc:
        raise StorageError(
            f"cannot write the report to {shown_path(out_file)} ({exc.strerror or exc}); free space, fix the "
            "folder's permissions or give `out` another place"
        ) from None
    return found


def _inspect(run: Run, epoch: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The best run's evaluation, its predictions of the first 300 test images, and inside its network (its
    weights, beside the best epoch's where it kept another; the first test image it gets wrong, followed through
    its layers), for the report."""
    from fashionlab.engine import inside as engine
    from fashionlab.engine.inference import evaluate_run, predict_test_images

    predictions = predict_test_images(run, 300, epoch)
    wrong = next((p["index"] for p in predictions if not p["correct"]), 0)
    weights = engine.run_weights(run, epoch)
    other = "best" if epoch == "last" else "last"
    beside = dict(run.weight_epochs()).get(other) not in (None, weights["epoch_number"])  # another epoch's weights
    inside = {"weights": weights, "beside": engine.run_weights(run, other, dead_units=False) if beside else None,
              "image": engine.inside_run(run, wrong, epoch=epoch)}  # fmt: skip
    return evaluate_run(run, epoch), predictions, inside


def usable(run: Run, histories: dict[str, Any], left_out: list[tuple[str, str]], models: bool = True) -> bool:
    """Whether a run can go into a report; a broken one is left out (with why, in `left_out`), not the whole
    report. The history it reads is kept in `histories` (by run id), so the report does not read it again.
    With `models` its config.yaml must be readable too (a Markdown or HTML report rebuilds the best run's
    model from it); the JSON report reads only the copy in run.json, so it does not check 20,000 YAML files."""
    try:
        if run.problem:
            raise RunError(run.problem)
        if models:
            run.check_config()
        history = run.history()
        run.metrics()
        histories[run.id] = history
    except RunError as exc:
        left_out.append((run.id, str(exc)))
        return False
    return True


def parts_of(
    runs: RunStore, chosen: list[Run], axes: list[str], known: dict[str, Any] | None = None
) -> list[tuple[str, list[Run], list[str]]]:
    """All runs, as one part per sweep (its trials, newest sweep first) and one per task for the rest."""
    from fashionlab.i18n import _
    from fashionlab.results import summary_of
    from fashionlab.views.observations import task_words

    by_id = {r.id: r for r in chosen}
    parts: list[tuple[str, list[Run], list[str]]] = []
    placed: set[str] = set()
    records = [r for r in map(runs.find_record, runs.sweep_ids()) if r is not None]
    for record in sorted(records, key=lambda r: r.updated, reverse=True):
        mine = [by_id[i] for i in dict.fromkeys(record.run_ids) if i in by_id]  # a run several sweeps used: in each
        if mine:
            what = " ".join(record.items) or ", ".join(record.axes)
            kind = _("Sweep") if record.kind == "sweep" else _("Search")
            parts.append((f"{kind} {record.id}: {what}", mine, list(record.axes)))
            placed.update(r.id for r in mine)
    rest: dict[str, list[Run]] = {}
    for run in chosen:
        if run.id not in placed:
            rest.setdefault((known[run.id] if known and run.id in known else summary_of(run)).task, []).append(run)
    for task, group in rest.items():
        title = _("Runs of {task}").format(task=task_words(task)) if parts or len(rest) > 1 else _("Runs")
        parts.append((title, group, []))
    return parts if len(parts) > 1 else [(_("All runs"), chosen, axes)]


@dataclass
class Inside:
    """One image through a run's network (`found`: engine.inside's numbers), and the pictures asked for."""

    run: Run
    found: dict[str, Any] | None
    picture: bytes | None = None  # the image's way through the layers
    weights: bytes | None = None  # what the first layer's units look for (a tiny net: every weight)

    def to_json(self) -> dict[str, Any]:
        found = self.found or {}
        layers = [{"name": layer["name"], "kind": layer["kind"], "activation": layer["activation"],
                   "output": np.round(np.asarray(layer["output"]).reshape(-1), 6).tolist(),
                   "dead": [int(u) for u in layer["dead"]]} for layer in found.get("layers", [])]  # fmt: skip
        return {
            "run": self.run.id, "epoch": found.get("epoch"), "index": found.get("index"), "layers": layers,
            "logits": np.round(found["logits"], 6).tolist() if "logits" in found else None,
            "probabilities": np.round(found["probabilities"], 6).tolist() if "probabilities" in found else None,
            "predicted": found.get("predicted"), "true": found.get("true"), "class_names": found.get("class_names"),
            "epoch_number": found.get("epoch_number"),
            "weight_epochs": [{"epoch": key, "number": n} for key, n in self.run.weight_epochs()],
        }  # fmt: skip


def inside(
    run: Run, index: int | None = None, image: str | None = None, epoch: str = "last", picture: bool = False,
    weights: bool = False, best_too: bool = False, one_scale: bool = False,
) -> Inside:  # fmt: skip
    """Test image `index` or an image file through the run's network (engine/inside.py); with `picture` its
    way drawn, with `weights` the first layer's units drawn (`best_too`: beside the best epoch's; `one_scale`:
    the last epoch's units on its colour scale, so that the pictures of every epoch agree)."""
    from fashionlab.engine import inside as engine

    found = None
    if index is not None or image is not None:
        from fashionlab import data as fdata
        from fashionlab.config import run_config

        pixels = fdata.load_image(image, run_config(run).dataset.image_hw)[0] if image is not None else None
        found = engine.inside_run(run, index, pixels, epoch)
    drawn = Inside(run, found)
    if picture and found is not None:
        from fashionlab.views.inside import inside_png

        drawn.picture = inside_png(found)
    if weights:
        from fashionlab.views import inside as views

        kept = engine.run_weights(run, epoch)
        reference = engine.run_weights(run, dead_units=False) if one_scale and epoch != "last" else None
        if views.is_tiny(kept):
            drawn.weights = views.network_png(kept, reference=reference)
        else:
            best = engine.run_weights(run, "best", dead_units=False) if best_too else None
            drawn.weights = views.weights_png(kept, best, reference)
    return drawn
