"""From run directories to Results: each run's summary, the settings, their comparisons and the findings."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fashionlab import datasets, metrics
from fashionlab.errors import FashionlabError
from fashionlab.keys import NOT_HASHED, flatten, layer_words, short_key
from fashionlab.results import findings, noise, paired
from fashionlab.results.model import Results, RunSummary, Setting, Tested, lower_is_better
from fashionlab.store import Run

DEFAULT_SORT = "test_accuracy"


def _scores(test: Any) -> dict[str, float] | None:
    """A test's metrics (loss, accuracy and any other the model was compiled with) where loss and accuracy
    are numbers; None otherwise (a run stored broken)."""
    if not isinstance(test, dict):
        return None
    scores = {k: v for k, v in ((k, _number(v)) for k, v in test.items() if k != "epoch") if v is not None}
    return scores if "loss" in scores and "accuracy" in scores else None


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _dataset(name: Any) -> datasets.DataSet:
    """A run's data set (Fashion-MNIST where its config names none, or one this fashionlab lacks)."""
    try:
        return datasets.get(name if isinstance(name, str) else None)
    except FashionlabError:
        return datasets.get(None)


def _test_images(dataset: datasets.DataSet, ids: list[int]) -> int | None:
    try:
        return dataset.split_counts_of([i for i in ids if isinstance(i, int) and 0 <= i < dataset.num_classes])[1]
    except (FashionlabError, ValueError):  # the data set cannot be read here, or a class it does not have
        return None


def summary_of(run: Run, history: list[dict[str, float]] | None = None) -> RunSummary:
    """One run's summary from its files; a broken or unfinished one has what could be read. `history`: the
    run's history.csv where the caller has just read it (a report checks every run's first)."""
    config = run.resolved_config()
    flat = flatten(config)
    classes = config.get("classes")
    dataset = _dataset(config.get("data"))
    try:
        ids = dataset.class_ids(classes if isinstance(classes, list) and classes else None)
    except ValueError:  # a class name this data set does not have (a hand-edited config.yaml)
        ids = list(range(len(classes))) if isinstance(classes, list) else []
    k = len(ids)
    size = config.get("image_size")
    image = (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else dataset.image_hw
    seed = config.get("seed")
    found = RunSummary(
        run=run.id, status=str(run.status), config=flat, seed=seed if isinstance(seed, int) else None, classes=k,
        image=image, layers=layer_words(config.get("layers") or []),
    )  # fmt: skip
    found.data = dataset.title
    cap, tests = config.get("test_samples"), _test_images(dataset, ids)
    found.test_samples = min(tests, cap) if isinstance(cap, int) and tests is not None else (cap or tests)
    found.shared_training = [str(r) for r in run.info.shared_training or []]
    stopped = run.info.stopped_early or {}
    found.restored_epoch = stopped.get("best_epoch") if isinstance(stopped, dict) and stopped.get("restored") else None
    try:
        data = run.metrics() if not run.problem else {}
        history = (run.history() if history is None else history) if not run.problem else []
    except Exception:
        data, history = {}, []
    summary, test = data.get("summary") or {}, data.get("test") or {}
    found.epochs = summary.get("epochs", run.info.epochs_done)
    found.monitor, found.best_epoch = summary.get("monitor"), summary.get("best_epoch")
    found.last = {k: v for k, v in (summary.get("last") or {}).items() if _number(v) is not None}
    found.at_best = {k: v for k, v in (summary.get("best") or {}).items() if _number(v) is not None}
    found.overfitting = summary.get("overfitting")
    found.seconds = round(summary["seconds_total"], 1) if _number(summary.get("seconds_total")) is not None else None
    history = history[: found.epochs] if isinstance(found.epochs, int) else history
    if isinstance(summary.get("overfit_trend"), dict) or summary.get("best_epoch") == summary.get("last_epoch"):
        found.overfit_trend = summary.get("overfit_trend")  # decided by today's rule when the run ended
    elif history and all(_number(row.get("val_loss")) is not None for row in history):
        decided = metrics.summarize_history(history)  # a run stored by the older rule: decided again
        found.overfitting, found.overfit_trend = decided["overfitting"], decided.get("overfit_trend")
    scored = [(row["val_accuracy"], int(row["epoch"])) for row in history if _number(row.get("val_accuracy"))]
    if scored:
        found.max_val_accuracy, found.max_val_accuracy_epoch = max(scored, key=lambda s: (s[0], -s[1]))
    found.wander = noise.wander(history)
    if (scores := _scores(test)) is not None:
        kept = found.restored_epoch or summary.get("last_epoch") or found.epochs or 0
        found.test = Tested(int(kept), scores)
    at_best = data.get("test_at_best") or {}
    if isinstance(at_best, dict) and (scores := _scores(at_best)) is not None:
        found.test_at_best = Tested(int(at_best.get("epoch", 0)), scores)
    found.dead_units = [d for d in data.get("dead_units") or [] if isinstance(d, dict)]
    confidence = data.get("confidence")
    found.confidence = confidence.get("kept") if isinstance(confidence, dict) else None
    found.checkpoints = data.get("checkpoints") if isinstance(data.get("checkpoints"), dict) else None
    found.images = _once(run)
    return found


def _once(run: Run) -> Callable[[], Any]:
    """The run's per-image evidence, read the first time it is asked for (a closure: functools.cache costs
    more than the rest of a summary over thousands of runs)."""
    kept: list[Any] = []

    def images() -> Any:
        if not kept:
            kept.append(_images(run))
        return kept[0]

    return images


def _images(run: Run) -> Any:
    """The run's per-image evidence, None where it has none or it cannot be read (then nothing is said)."""
    from fashionlab.errors import RunError
    from fashionlab.store import images

    try:
        return images.read(run)
    except (RunError, OSError):
        return None


def varying_keys(rows: list[RunSummary]) -> list[str]:
    """Config keys whose values differ between runs, in config order (not the name, a label, nor tensorboard
    or repeats, how a run was logged or how many seeds a sweep asked for: none is a setting)."""
    keys = [k for k in dict.fromkeys(k for row in rows for k in row.config) if k not in NOT_HASHED]
    first = rows[0].config if rows else {}
    return [k for k in keys if any(r.config.get(k) != first.get(k) for r in rows)]


def sort_runs(rows: list[RunSummary], metric: str) -> list[RunSummary]:
    """Best first: lowest for losses, epochs and time, highest otherwise; missing values last."""
    low = lower_is_better(metric)
    present = [r for r in rows if _number(r.value(metric)) is not None]
    placed = {id(r) for r in present}
    missing = [r for r in rows if id(r) not in placed]
    return sorted(present, key=lambda r: r.value(metric) if low else -r.value(metric)) + missing


def cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"
    if value is None:
        return "-"
    import json

    return str(value) if not isinstance(value, list | dict) else json.dumps(value)


def label_keys(keys: list[str]) -> list[str]:
    """The keys a label names: every layer key becomes one, `layers` (said by the config's name)."""
    out: list[str] = []
    for key in keys:
        name = "layers" if key.startswith("layers.") else key
        if name not in out:
            out.append(name)
    return out


def label(row: RunSummary, keys: list[str], rows: list[RunSummary]) -> str:
    """What sets this run apart: `optimizer=sgd, epochs=25`, `tiny-deeper`, or its short id."""
    return labeller(keys, rows)(row)


def labeller(keys: list[str], rows: list[RunSummary]) -> Any:
    """`label` for many runs of one set: what it needs from all of them worked out once (linear, not n^2)."""
    named = label_keys(keys)
    tails: dict[str, int] = {}
    for r in rows:
        tail = r.run.rsplit("-", 1)[-1]
        tails[tail] = tails.get(tail, 0) + 1
    if len([k for k in named if k != "seed"]) <= 3:
        return lambda row: _label(row, named, rows, tails)
    # configs that differ in many keys: their names say it shorter, with the keys that tell apart the settings
    # sharing a name (tutorial, optimizer=sgd); a sweep's seed in a name is the seed, not the setting
    by_name: dict[str, list[RunSummary]] = {}
    for r in rows:
        by_name.setdefault(_base_name(r.name), []).append(r)
    apart: dict[str, list[str]] = {}
    for name, group in by_name.items():
        first = group[0].config
        differ = [k for k in keys if k not in ("seed", "name") and any(r.config.get(k) != first.get(k) for r in group)]
        apart[name] = sorted(differ, key=lambda k: -len({repr(r.config.get(k)) for r in group}))[:2]

    def label_of(row: RunSummary) -> str:
        name = _base_name(row.name)
        return ", ".join([name, *(f"{short_key(k)}={cell(row.config.get(k))}" for k in apart[name])])

    return label_of


def _base_name(name: str) -> str:
    """A run's name without the seed a sweep or --repeats put in it (tutorial-seed=2 -> tutorial)."""
    import re

    return re.sub(r"-seed=-?\d+$", "", name)


def _label(row: RunSummary, named: list[str], rows: list[RunSummary], tails: dict[str, int]) -> str:
    parts = []
    for key in sorted(named, key=lambda k: k == "seed"):  # the seed last: optimizer=adam, seed=43
        parts.append(row.name if key == "layers" else f"{short_key(key)}={cell(row.config.get(key))}")
    return ", ".join(parts) if parts else (row.name if len(rows) == 1 else short_id(row, rows, tails))


def short_id(row: RunSummary, rows: list[RunSummary], tails: dict[str, int] | None = None) -> str:
    """A run's config hash (the end of its id), or more of the id where two runs share it (`tails`: how many
    runs end in each hash, when the caller counted them once)."""
    tail = row.run.rsplit("-", 1)[-1]
    count = tails[tail] if tails is not None else sum(r.run.rsplit("-", 1)[-1] == tail for r in rows)
    if count == 1 and len(tail) == 8:
        return tail
    parts = row.run.split("-")
    return "-".join(parts[1:2] + parts[3:]) if len(parts) > 3 else row.run


def group_settings(rows: list[RunSummary], keys: list[str], sort: str) -> list[Setting]:
    """Runs grouped by setting (every varying key but the seed), best first by the mean of `sort`."""
    keys = [k for k in keys if k != "seed"]
    by_values: dict[str, Setting] = {}
    for row in rows:
        values = {k: row.config.get(k) for k in keys}
        setting = by_values.setdefault(repr(values), Setting(values))
        setting.runs.append(row)
    found = list(by_values.values())
    labelled = labeller(keys, rows)
    for setting in found:
        names = {r.name for r in setting.runs}
        setting.label = labelled(setting.runs[0]) if keys else (names.pop() if len(names) == 1 else "all runs")
    low = lower_is_better(sort)
    means = {id(s): s.mean(sort) for s in found}
    present = [s for s in found if means[id(s)] is not None]
    ordered = sorted(present, key=lambda s: (means[id(s)] or 0.0) * (1 if low else -1))
    return ordered + [s for s in found if means[id(s)] is None]  # by identity: Setting's == compares every run


def results_of(
    summaries: list[RunSummary], sort: str = DEFAULT_SORT, axes: list[str] | None = None,
    pool: list[RunSummary] | None = None,
) -> Results:  # fmt: skip
    """What these runs show, best first by `sort`; `pool`: the runs folder's runs, where repeats of a one-seed
    setting's model (other seeds) may measure its spread."""
    rows, repeats = one_run_per_identity(sort_runs(summaries, sort))
    keys = varying_keys(rows)
    if axes:  # a sweep's axes first, in the order given
        keys = [*(a for a in axes if a in keys), *(k for k in keys if k not in axes)]
    settings = group_settings(rows, keys, sort)
    comparisons = []
    one_task = len({r.task for r in rows}) == 1  # runs of different tasks are not compared with each other
    if one_task and settings and settings[0].mean(sort) is not None:
        others = [other for other in settings[1:] if other.mean(sort) is not None]
        tests = metrics.welch_many([(other.numbers(sort), settings[0].numbers(sort)) for other in others])
        comparisons = [noise.compare(other, settings[0], sort, test) for other, test in zip(others, tests, strict=True)]
    one_seed = [c for c in comparisons if c.p is None and c.verdict != "identical"]
    if pool and one_seed:
        by_label, index = {s.describe(): s for s in settings}, noise.repeats_index(pool, sort)
        for c in one_seed:
            if c.a in by_label:
                noise.from_repeats(c, by_label[c.a], settings[0], index)
    adjust_together(comparisons)
    labelled = labeller(keys, rows)
    labels = {r.run: labelled(r) for r in rows}
    found = Results(rows, keys, sort, settings, comparisons, [], labels)
    paired.pair_comparisons(found)
    found.findings = findings.all_findings(found) + findings.trained_again(repeats, labels)
    return found


def adjust_together(comparisons: list[Any]) -> None:
    """Holm's correction across the comparisons one table or report makes (each setting against the best,
    picked after looking): the p of each, and its verdict, is the adjusted one; raw_p keeps Welch's."""
    from fashionlab.results.model import Verdict
    from fashionlab.results.noise import SIGNIFICANT, seeds_needed

    tested = [c for c in comparisons if c.p is not None and c.verdict != Verdict.IDENTICAL]
    if len(tested) < 2:
        for c in tested:
            c.raw_p = c.p
        return
    for c, adjusted in zip(tested, metrics.holm([c.p for c in tested]), strict=True):
        c.raw_p, c.p = c.p, adjusted
        if adjusted >= SIGNIFICANT and c.verdict in (Verdict.BETTER, Verdict.WORSE):
            c.verdict, c.seeds_needed = Verdict.INCONCLUSIVE, seeds_needed(c.a_values, c.b_values)
        c.why += f"; Holm-adjusted over {len(tested)} comparisons: {metrics.p_text(adjusted)}"


def one_run_per_identity(rows: list[RunSummary]) -> tuple[list[RunSummary], list[list[RunSummary]]]:
    """Runs of one config and one seed are one run trained several times, never seeds: the newest completed
    one stands for them (in the tables, means and findings); the groups of such runs, that one first."""
    groups: dict[tuple[Any, ...], list[RunSummary]] = {}
    for row in rows:
        identity = tuple(sorted((k, repr(v)) for k, v in row.config.items() if k not in NOT_HASHED))
        groups.setdefault(identity, []).append(row)
    kept, repeats = [], []
    for group in groups.values():
        stands = max(group, key=lambda r: (r.status == "completed", r.run))
        kept.append(stands)
        if len(group) > 1:
            repeats.append([stands, *(r for r in group if r is not stands)])
    kept_ids = {id(r) for r in kept}
    return [r for r in rows if id(r) in kept_ids], repeats


def collect(
    runs: list[Run], sort: str = DEFAULT_SORT, axes: list[str] | None = None,
    known: dict[str, RunSummary] | None = None,
) -> Results:  # fmt: skip
    """What these runs show: read each once (or take it from `known`, every run of the folder, which is then
    the pool of repeats a one-seed comparison may measure its spread from), then compare them."""
    summaries = [known[r.id] if known and r.id in known else summary_of(r) for r in runs]
    return results_of(summaries, sort, axes, list(known.values()) if known else None)
