"""Sentences a lab report can stand behind, each rendered from the results model (fashionlab.results):
its comparisons (with their verdicts) and findings (with their numbers). No verdict is made here.
"""

from __future__ import annotations

import statistics
from typing import Any

from fashionlab import metrics
from fashionlab.i18n import _, grouped
from fashionlab.keys import NOT_HASHED, short_key
from fashionlab.results import Comparison, Finding, Results, RunSummary, Verdict, noise
from fashionlab.results.findings import full_grid
from fashionlab.views import paired

MOST_COMPARISONS = 3  # more settings than this: the rest are in the table
MARGINAL_VALUES = 8  # a key with more values than this gets no "by key" sentence (a seed, a name, a layer)


def seconds(value: float) -> str:
    """38.6 s, 2 min 5 s, 1 h 3 min: how long for people."""
    if value < 90:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 90:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def basis_words(basis: dict[str, Any]) -> str:
    """What a one-seed noise estimate rests on, in the chosen language."""
    if basis.get("source") == "none":
        return _("one seed per setting gives no noise estimate for {metric}").format(metric=basis["metric"])
    if basis.get("source") == "repeats":
        return _("runs of the same model and data with other seeds ({runs}) spread {metric} with an sd of {points} "
                 "points").format(runs=_ids(basis["runs"]), metric=metric_words(basis["metric"]),
                                  points=f"{100 * basis['sd']:.2f}")  # fmt: skip
    parts = []
    if basis.get("source") == "wander":
        parts.append(
            _("val_accuracy wandered ±{points} points from epoch to epoch").format(
                points=f"{100 * basis['wander']:.2f}"
            )
        )
    if "test_images" in basis:
        parts.append(
            _("{n} test images leave accuracy uncertain by ±{points} points").format(
                n=grouped(basis["test_images"]), points=f"{100 * basis['test_sd']:.1f}"
            )
        )
    return _(", and ").join(parts)


def verdict_word(verdict: Verdict) -> str:
    return {
        Verdict.BETTER: _("better"), Verdict.WORSE: _("worse"), Verdict.INCONCLUSIVE: _("inconclusive"),
        Verdict.CANNOT_JUDGE: _("cannot judge"), Verdict.IDENTICAL: _("identical"),
    }[verdict]  # fmt: skip


def metric_words(metric: str) -> str:
    return {"test_accuracy": _("test accuracy"), "test_loss": _("test loss")}.get(metric, metric.replace("_", " "))


def observations(res: Results) -> list[str]:
    """The report's observations about these results."""
    done = [r for r in res.runs if r.done]
    if not done:
        return [_("No run has finished, so there is nothing to compare yet.")]
    if res.of("tasks_differ"):  # nothing is ranked across tasks (the report splits them into parts)
        return [finding_text(f) for f in res.findings if f.kind in ("tasks_differ", "chance", "dead_units")]
    notes = [winner(res)]
    notes += comparisons(res)
    notes += [text for key in res.keys if (text := effect_of(key, res))]
    notes += [finding_text(f) for f in res.findings if f.kind not in ("one_training",)]
    if (gap := largest_gap(res)) is not None:
        notes.append(gap)
    notes.append(time_taken(res))
    return [n for n in notes if n]


def winner(res: Results) -> str:
    best = res.settings[0] if res.settings else None
    if best is None or best.mean("test_accuracy") is None or res.sort != "test_accuracy":
        row = next(r for r in res.runs if r.done)
        return _("{label}: test accuracy {accuracy}, test loss {loss}.").format(
            label=res.labels[row.run], accuracy=f"{row.test_accuracy:.4f}", loss=f"{row.test_loss:.4f}"
        )
    n = len(best.runs)
    if len(res.settings) == 1 and n == 1:
        row = best.runs[0]
        assert row.test is not None
        return _("{label}: test accuracy {accuracy}, test loss {loss} (the model of epoch {epoch}).").format(
            label=best.describe(),
            accuracy=f"{row.test.accuracy:.4f}",
            loss=f"{row.test.loss:.4f}",
            epoch=row.test.epoch,
        )
    seeds = _(", mean of {n} seeds").format(n=n) if n > 1 else ""
    restored = best.runs[0].restored_epoch if n == 1 else None
    which = (
        _("the model of epoch {epoch}, restored by early stopping").format(epoch=restored)
        if restored
        else _("the model of its last epoch")
    )
    return _(
        "Highest test accuracy (picked after looking): {label}, {accuracy}{seeds} (test loss {loss}; {which})."
    ).format(
        label=best.describe(), accuracy=f"{best.mean('test_accuracy'):.4f}", seeds=seeds,
        loss=f"{best.mean('test_loss'):.4f}", which=which,
    )  # fmt: skip


def comparison_text(found: Comparison, one_training: bool, paired_below: bool = False) -> str:
    """One comparison as a sentence: the difference, the verdict and what it rests on (`paired_below`: its two
    models' images are compared in a finding below, said once there)."""
    points = f"{abs(100 * found.diff):.2f}"
    if found.verdict == Verdict.IDENTICAL:
        return _("{a} and {b} are identical: equal numbers on every seed, they compute the same thing (no test is "
                 "run on identical numbers).").format(a=found.a, b=found.b)  # fmt: skip
    if found.p is None:  # one seed per setting
        way = _("lower") if found.diff < 0 else _("higher")
        where = _("; the same training") if one_training else ""
        other = f"{sum(found.b_values) / len(found.b_values):.4f}" + (
            _(", mean of {n} seeds").format(n=len(found.b_values)) if len(found.b_values) > 1 else ""
        )  # the number the difference is taken from, named: never a mean the sentence does not say
        head = _("Next: {label}, {value} ({points} points {way} than {best}'s {other}{where})").format(
            label=found.a,
            value=f"{found.a_values[0]:.4f}",
            points=points,
            way=way,
            best=found.b,
            other=other,
            where=where,
        )
        if found.paired and paired_below:
            return head + _(": one seed per setting cannot judge the settings; the two models' test images are "
                            "compared below.")  # fmt: skip
        if found.paired:  # the two runs' models on the same images: about them, not their settings
            return (
                head
                + _(": one seed per setting cannot judge the settings.")
                + " "
                + paired.runs_text(found.paired, found.a, found.b)
                + repeats_needed(found)
            )
        if one_training:  # two checkpoints of one training: the seed is the same, the totals cannot tell
            return head + _(": cannot judge from the totals alone: two models of one training need a paired "
                            "test on the test images.")  # fmt: skip
        said = head + _(": cannot judge with one seed per setting (a setting cannot be told from its seed)")
        if found.noise is not None:
            said += _("; below about {size} points it is noise in any case ({basis})").format(
                size=f"{100 * found.noise:.1f}", basis=basis_words(found.basis)
            )
        needed = repeats_needed(found)
        return said + ("." + needed if needed else _("; --repeats 3 measures how much seeds move it."))
    n = len(found.a_values)
    seeds = _("{n} seeds").format(n=n) if n == len(found.b_values) else _("their seeds")
    text = _("{metric}, {a} vs {b}: {diff}").format(
        metric=metric_words(found.metric), a=found.a, b=found.b, diff=f"{found.diff:+.4f}"
    )
    p = metrics.p_text(found.p)
    if found.raw_p is not None and found.raw_p != found.p:  # several comparisons made together: Holm's
        p = _("{p}, Holm-adjusted").format(p=p)
    if found.verdict == Verdict.INCONCLUSIVE:
        text += _(", inconclusive with {seeds} ({p})").format(seeds=seeds, p=p)
        if found.agree:
            way = _("lower") if found.diff < 0 else _("higher")
            text += _("; {way} in {k} of {n} seeds").format(way=way, k=found.agree[0], n=found.agree[1])
        if found.seeds_needed:
            text += _("; about {n} seeds each would likely settle a difference this size").format(n=found.seeds_needed)
        return text[0].upper() + text[1:] + "."
    ci = (
        _("95% CI {low} to {high}, ").format(low=f"{found.low:+.4f}", high=f"{found.high:+.4f}")
        if found.low is not None
        else ""
    )
    text += f" ({ci}{p}, {seeds}): {verdict_word(found.verdict)}."
    return text[0].upper() + text[1:]


def repeats_needed(found: Comparison) -> str:
    """Where the spread of this model was measured (repeats in the runs folder): the seeds a t-based power
    computation says a difference this size needs, as the --repeats to run; else nothing."""
    if found.basis.get("source") != "repeats" or not found.seeds_needed:
        return ""
    return " " + _("With the spread measured on {runs}, about {n} seeds each would likely settle a difference this "
                   "size: --repeats {n}.").format(runs=_ids(found.basis["runs"]), n=found.seeds_needed)  # fmt: skip


def _ids(runs: list[str]) -> str:
    """Runs named by their config hash (the end of the id; `--format json` has the whole ids)."""
    return ", ".join(r.rsplit("-", 1)[-1] for r in runs)


def comparisons(res: Results) -> list[str]:
    shared = {r for f in res.of("one_training") for r in f.runs}
    below = [{f.numbers["paired"]["run_a"], f.numbers["paired"]["run_b"]} for f in res.of("loss_grew")
             if f.numbers.get("paired")]  # fmt: skip
    said = []
    for found in res.comparisons[:MOST_COMPARISONS]:
        one = bool(shared) and set(found.a_runs + found.b_runs) <= shared
        said.append(comparison_text(found, one, set(found.a_runs + found.b_runs) in below))
    rest = len(res.comparisons) - MOST_COMPARISONS
    if rest > 0:
        said.append(_("{n} more settings against the best: see the table's vs best column.").format(n=rest))
    return said


def effect_of(key: str, res: Results) -> str | None:
    """What each value of `key` gave in test accuracy and loss, in the order of its values; averaged over
    the other settings only where they form a full grid."""
    if key == "seed" or key in NOT_HASHED or key.startswith("layers."):
        return None
    groups: dict[str, list[float]] = {}
    losses: dict[str, list[float]] = {}
    for r in res.runs:
        if r.test is not None:
            value = r.config.get(key)
            label = f"{value:g}" if isinstance(value, float) else str(value)
            groups.setdefault(label, []).append(r.test.accuracy)
            losses.setdefault(label, []).append(r.test.loss)
    others = [k for k in res.keys if k not in (key, "seed")]
    if not 2 <= len(groups) <= MARGINAL_VALUES or (others and not full_grid(res)) or (not others and len(groups) < 3):
        return None
    values = [r.config.get(key) for r in res.runs]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):  # 25, 100, 150 in order
        groups = dict(sorted(groups.items(), key=lambda item: float(item[0])))
    parts = [f"{v}: {statistics.fmean(a):.4f} ({statistics.fmean(losses[v]):.4f})" for v, a in groups.items()]
    averaged = _(" averaged over the other settings") if others else ""
    return _("Test accuracy (and test loss) by {key}{averaged}: {parts}.").format(
        key=short_key(key), averaged=averaged, parts=", ".join(parts)
    )


def _overfitting(n: dict[str, Any], about: str) -> str:
    earlier = (
        _(" (the trials {trials} are earlier points of it)").format(trials=", ".join(n["earlier_trials"]))
        if n["earlier_trials"]
        else ""
    )
    numbers = dict(
        about=about, earlier=earlier, best=f"{n['val_loss_best']:.4f}", epoch=n["best_epoch"],
        last=f"{n['val_loss_last']:.4f}", last_epoch=n["last_epoch"], loss_best=f"{n['loss_best']:.4f}",
        loss_last=f"{n['loss_last']:.4f}",
    )  # fmt: skip
    if n.get("trend_p") is not None:
        text = _(
            "{about} overfits{earlier}: after its lowest, {best} at epoch {epoch}, val_loss rose to {last} at epoch "
            "{last_epoch}, a rising trend over {after} epochs (p = {p}) beyond its epoch-to-epoch wander of "
            "{wander}, while the training loss fell from {loss_best} to {loss_last}."
        ).format(after=n["epochs_after"], p=f"{n['trend_p']:.2g}", wander=f"{n['wander']:.4f}", **numbers)
    else:
        text = _(
            "{about} overfits{earlier}: val_loss rose from {best} at epoch {epoch} to {last} at epoch {last_epoch} "
            "while the training loss fell from {loss_best} to {loss_last}."
        ).format(**numbers)
    if "test_accuracy_best" not in n or n.get("paired_test"):  # the paired test of the two says it, in full
        return text
    return text + _(
        " Tested, the epoch-{epoch} model scores {best} against {last} at the end, and test loss went from "
        "{loss_best} to {loss_last}."
    ).format(
        epoch=n["best_epoch"], best=f"{n['test_accuracy_best']:.4f}", last=f"{n['test_accuracy_last']:.4f}",
        loss_best=f"{n['test_loss_best']:.4f}", loss_last=f"{n['test_loss_last']:.4f}",
    )  # fmt: skip


def _evidence_text(found: Finding) -> str:
    """The findings about what the numbers rest on: each optimizer's settings, chance-level runs inside a
    mean, one run trained several times."""
    n, about = found.numbers, found.about
    if found.kind == "optimizer_settings":
        said = []
        for o in n["optimizers"]:
            rates = ", ".join("?" if r is None else f"{r:g}" for r in o["learning_rate"])
            text = _("{name} at learning rate {rates}").format(name=o["name"], rates=rates)
            if o["momentum"]:
                text += _(" and momentum {momentum}").format(momentum=", ".join(f"{m:g}" for m in o["momentum"]))
            if o["default"]:
                text += _(" (Keras's defaults)")
            said.append(text)
        return _("Each optimizer ran with: {list}.").format(list="; ".join(said))
    if found.kind == "chance_in_mean":
        return _(
            "{about}: its mean mixes {k} of its {n} runs at chance level ({runs}) with runs that learned; read "
            "the runs one by one (--per-seed)."
        ).format(about=about, k=len(n["at_chance"]), n=n["runs"], runs=", ".join(n["at_chance"]))
    same = (
        _("identical results")
        if n["identical"]
        else _("test accuracy {values}").format(
            values=", ".join("-" if a is None else f"{a:.4f}" for a in n["test_accuracy"])
        )
    )  # trained_again
    return _(
        "{about}: {n} runs of one config and one seed ({runs}) are one run trained {n} times, counted once "
        "(the first), never as seeds: {same}."
    ).format(about=about, n=n["times"], runs=", ".join(n["runs"]), same=same)


def finding_text(found: Finding) -> str:
    """A finding in one or two short sentences, every number from `found.numbers`."""
    n, about = found.numbers, found.about
    if found.kind == "overfitting":
        return _overfitting(n, about)
    if found.kind in ("optimizer_settings", "chance_in_mean", "trained_again"):
        return _evidence_text(found)
    if found.kind == "loss_grew":
        return paired.loss_grew_text(n)
    if found.kind == "checkpoints":
        return paired.checkpoints_text(found)
    if found.kind == "chance":
        loss = (
            _("; its test loss {loss} is ln {k} = {ln_k}").format(
                loss=f"{n['test_loss']:.4f}", k=n["classes"], ln_k=f"{n['ln_k']:.4f}"
            )
            if n["loss_at_ln_k"]
            else ""
        )
        return _(
            "{about} learned nothing (chance level): test accuracy {accuracy} against 1/{k} = {chance} for "
            "guessing{loss}."
        ).format(
            about=about, accuracy=f"{n['test_accuracy']:.4f}", k=n["classes"], chance=f"{n['chance']:.4f}", loss=loss
        )
    if found.kind == "dead_units":
        parts = [
            _("{dead} of the {units} units of {layer} (layer {i})").format(
                dead=d["dead"], units=d["units"], layer=d["words"], i=d["layer"]
            )
            for d in n["layers"]
        ]
        return _("The likely cause for {about}: {parts} output 0 for every training image tried (dead units).").format(
            about=about, parts=", ".join(parts)
        )
    if found.kind == "architecture":
        return _("{to} against {base}: {changes}.").format(
            to=n["to"], base=n["from"], changes=", ".join(change_words(c) for c in n["changes"])
        )
    if found.kind == "confounded":
        seeds = "; ".join(
            _("{setting}: seed {seeds}").format(setting=k, seeds=", ".join(map(str, v))) for k, v in n["seeds"].items()
        )
        return _(
            "The settings also differ in seed ({seeds}): a difference between them mixes the effect of {keys} "
            "with the seed's."
        ).format(seeds=seeds, keys=", ".join(short_key(k) for k in _named(n["keys"])))
    if found.kind == "not_a_grid":
        return _("The runs cover {n} of the {grid} combinations of {keys}: their effects cannot be told apart.").format(
            n=n["settings"], grid=n["full_grid"], keys=", ".join(short_key(k) for k in n["keys"])
        )
    if found.kind == "losses_differ":
        return _(
            "The runs train different losses ({losses}): their loss values are not comparable, so compare their "
            "accuracy."
        ).format(losses=", ".join(n["losses"]))
    if found.kind == "tasks_differ":
        tasks = "; ".join(
            (_("1 run: {task}") if len(v) == 1 else _("{n} runs: {task}")).format(n=len(v), task=task_words(k))
            for k, v in n["tasks"].items()
        )
        return _("These runs do different tasks ({tasks}): their numbers are not comparable across tasks.").format(
            tasks=tasks
        )
    return ""


def task_words(task: str) -> str:
    """'10 classes of 28x28 images' in the chosen language."""
    import re

    found = re.fullmatch(r"(\d+) classes of (\S+) images", task)
    return _("{k} classes of {size} images").format(k=found[1], size=found[2]) if found else task


def change_words(change: str) -> str:
    """'added Dense(16, relu) twice' (keys.layers_diff) in the chosen language."""
    verb, rest = change.split(" ", 1)
    times = {" twice": _(" twice"), " three times": _(" three times")}
    for english, said in times.items():
        if rest.endswith(english):
            rest = rest[: -len(english)] + said
    if verb == "changed":
        before, after = rest.split(" to ", 1)
        return _("changed {before} to {after}").format(before=before, after=after)
    return {"added": _("added {layers}"), "removed": _("removed {layers}")}[verb].format(layers=rest)


def _named(keys: list[str]) -> list[str]:
    return list(dict.fromkeys("layers" if k.startswith("layers.") else k for k in keys))


def largest_gap(res: Results) -> str | None:
    gaps = [(r.last["accuracy"] - r.last["val_accuracy"], r) for r in res.runs
            if r.done and "accuracy" in r.last and "val_accuracy" in r.last]  # fmt: skip
    if not gaps:
        return None
    gap, r = max(gaps, key=lambda g: g[0])
    if gap <= 0:
        return _("At the end every run's validation accuracy was at or above its training accuracy.")
    return _(
        "The widest gap at the end between training and validation accuracy is {points} points ({label}: {train} "
        "against {val} after epoch {epoch})."
    ).format(
        points=f"{100 * gap:.1f}", label=res.labels[r.run], train=f"{r.last['accuracy']:.4f}",
        val=f"{r.last['val_accuracy']:.4f}", epoch=r.epochs,
    )  # fmt: skip


def time_taken(res: Results) -> str:
    """Training time, counting a shared training once (its longest trial's time)."""
    trainings: dict[frozenset[str], float] = {}
    done = [r for r in res.runs if r.done]
    for r in done:
        group = frozenset([r.run, *r.shared_training])
        trainings[group] = max(trainings.get(group, 0.0), r.seconds or 0.0)
    n = len(trainings)
    return _("Training took {time} in all: {trainings} for {trials}.").format(
        time=seconds(sum(trainings.values())),
        trainings=(_("1 training") if n == 1 else _("{n} trainings").format(n=n)),
        trials=(_("1 trial") if len(done) == 1 else _("{n} trials").format(n=len(done))),
    )


def one_run_noise(row: RunSummary) -> str:
    """Under train's summary: how large a difference from another one-seed run must be to mean anything."""
    found, basis = noise.one_seed_noise([row], "test_accuracy")
    text = _("One seed: a setting cannot be told from its seed")
    if found is not None:
        text += _("; a difference in test accuracy below about {points} points is noise in any case ({basis})").format(
            points=f"{100 * found:.1f}", basis=basis_words(basis)
        )
    return text + _("; --repeats 3 measures how much seeds move it.")
