"""Sentences a lab report can stand behind, each rendered from the results model (fashionlab.results):
its comparisons (with their verdicts) and findings (with their numbers). No verdict is made here.
"""

from __future__ import annotations

import statistics

from fashionlab import metrics
from fashionlab.config.keys import short_key
from fashionlab.results import Comparison, Finding, Results, RunSummary, Verdict, noise
from fashionlab.results.findings import full_grid

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


def observations(res: Results) -> list[str]:
    """The report's observations about these results."""
    done = [r for r in res.runs if r.done]
    if not done:
        return ["No run has finished, so there is nothing to compare yet."]
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
        return f"{res.labels[row.run]}: test accuracy {row.test_accuracy:.4f}, test loss {row.test_loss:.4f}."
    n = len(best.runs)
    if len(res.settings) == 1 and n == 1:
        row = best.runs[0]
        assert row.test is not None
        return (
            f"{best.describe()}: test accuracy {row.test.accuracy:.4f}, test loss {row.test.loss:.4f} "
            f"(the model of epoch {row.test.epoch})."
        )
    seeds = f", mean of {n} seeds" if n > 1 else ""
    first = best.runs[0]
    restored = first.restored_epoch if n == 1 else None
    which = f"the model of epoch {restored}, restored by early stopping" if restored else "the model of its last epoch"
    return (
        f"Highest test accuracy: {best.describe()}, {best.mean('test_accuracy'):.4f}{seeds} "
        f"(test loss {best.mean('test_loss'):.4f}; {which})."
    )


def comparison_text(found: Comparison, one_training: bool) -> str:
    """One comparison as a sentence: the difference, the verdict and what it rests on."""
    points = abs(100 * found.diff)
    name = found.metric.replace("_", " ")
    if found.p is None:  # one seed per setting
        way = "lower" if found.diff < 0 else "higher"
        where = "; the same training" if one_training else ""
        head = f"Next: {found.a}, {found.a_values[0]:.4f} ({points:.2f} points {way}{where})"
        if found.verdict == Verdict.CANNOT_JUDGE:
            return f"{head}: cannot judge with one seed, {found.why}; --repeats 3 would judge it."
        return f"{head}: {found.verdict} than {found.b}, {found.why}."
    seeds = f"{len(found.a_values)} seeds" if len(found.a_values) == len(found.b_values) else "their seeds"
    text = f"{name}, {found.a} vs {found.b}: {found.diff:+.4f}"
    if found.verdict == Verdict.INCONCLUSIVE:
        text += f", inconclusive with {seeds} ({metrics.p_text(found.p)})"
        if found.agree:
            way = "lower" if found.diff < 0 else "higher"
            text += f"; {way} in {found.agree[0]} of {found.agree[1]} seeds"
        if found.seeds_needed:
            text += f"; about {found.seeds_needed} seeds each would likely settle a difference this size"
        return text[0].upper() + text[1:] + "."
    ci = f"95% CI {found.low:+.4f} to {found.high:+.4f}, " if found.low is not None else ""
    text += f" ({ci}{metrics.p_text(found.p)}, {seeds}): {found.verdict}."
    return text[0].upper() + text[1:]


def comparisons(res: Results) -> list[str]:
    shared = {r for f in res.of("one_training") for r in f.runs}
    said = []
    for found in res.comparisons[:MOST_COMPARISONS]:
        one = bool(shared) and set(found.a_runs + found.b_runs) <= shared
        said.append(comparison_text(found, one))
    rest = len(res.comparisons) - MOST_COMPARISONS
    if rest > 0:
        said.append(f"{rest} more setting{'s' if rest != 1 else ''} against the best: see the table's vs best column.")
    return said


def effect_of(key: str, res: Results) -> str | None:
    """What each value of `key` gave in test accuracy and loss, in the order of its values; averaged over
    the other settings only where they form a full grid."""
    if key in ("seed", "name", "repeats") or key.startswith("layers."):
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
    averaged = " averaged over the other settings" if others else ""
    return f"Test accuracy (and test loss) by {short_key(key)}{averaged}: {', '.join(parts)}."


def finding_text(found: Finding) -> str:
    """A finding in one or two short sentences, every number from `found.numbers`."""
    n, about = found.numbers, found.about
    if found.kind == "overfitting":
        earlier = (
            f" (the trials {', '.join(n['earlier_trials'])} are earlier points of it)" if n["earlier_trials"] else ""
        )
        text = (
            f"{about} overfits{earlier}: val_loss rose from {n['val_loss_best']:.4f} at epoch {n['best_epoch']} "
            f"to {n['val_loss_last']:.4f} at epoch {n['last_epoch']} while the training loss fell from "
            f"{n['loss_best']:.4f} to {n['loss_last']:.4f}."
        )
        if "test_accuracy_best" in n:
            text += (
                f" Tested, the epoch-{n['best_epoch']} model scores {n['test_accuracy_best']:.4f} against "
                f"{n['test_accuracy_last']:.4f} at the end, and test loss grew from {n['test_loss_best']:.4f} to "
                f"{n['test_loss_last']:.4f}"
            )
            if n["accuracy_within_noise"] and n["test_loss_last"] > n["test_loss_best"]:
                text += ": as often right within the noise, the model is more confident on the images it gets wrong."
            elif n["test_accuracy_last"] < n["test_accuracy_best"]:
                text += ": the later model is worse on the test set too."
            else:
                text += "."
        return text
    if found.kind == "loss_grew":
        e, acc, loss = n["epochs"], n["test_accuracy"], n["test_loss"]
        return (
            f"From {e[0]} to {e[-1]} epochs test accuracy stayed within {100 * n['accuracy_range']:.2f} points "
            f"({acc[0]:.4f}, then {acc[-1]:.4f}) while test loss grew {n['loss_ratio']:.1f}x ({loss[0]:.4f} to "
            f"{loss[-1]:.4f}): the longer-trained model is right about as often, but far more confident when it "
            "is wrong, and the loss punishes confident mistakes."
        )
    if found.kind == "chance":
        loss = (
            f"; its test loss {n['test_loss']:.4f} is ln {n['classes']} = {n['ln_k']:.4f}" if n["loss_at_ln_k"] else ""
        )
        return (
            f"{about} learned nothing (chance level): test accuracy {n['test_accuracy']:.4f} against "
            f"1/{n['classes']} = {n['chance']:.4f} for guessing{loss}."
        )
    if found.kind == "dead_units":
        parts = [f"{d['dead']} of the {d['units']} units of {d['words']} (layer {d['layer']})" for d in n["layers"]]
        return f"The likely cause for {about}: {', '.join(parts)} output 0 for every training image tried (dead units)."
    if found.kind == "architecture":
        return f"{n['to']} against {n['from']}: {', '.join(n['changes'])}."
    if found.kind == "confounded":
        seeds = "; ".join(f"{k}: seed {', '.join(map(str, v))}" for k, v in n["seeds"].items())
        return (
            f"The settings also differ in seed ({seeds}): a difference between them mixes the effect of "
            f"{', '.join(short_key(k) for k in _named(n['keys']))} with the seed's."
        )
    if found.kind == "not_a_grid":
        return (
            f"The runs cover {n['settings']} of the {n['full_grid']} combinations of "
            f"{', '.join(short_key(k) for k in n['keys'])}: their effects cannot be told apart."
        )
    if found.kind == "losses_differ":
        return (
            f"The runs train different losses ({', '.join(n['losses'])}): their loss values are not "
            "comparable, so compare their accuracy."
        )
    if found.kind == "tasks_differ":
        tasks = ", ".join(f"{len(v)} of {k}" for k, v in n["tasks"].items())
        return f"These runs do different tasks ({tasks}): each task is ranked on its own."
    return ""


def _named(keys: list[str]) -> list[str]:
    return list(dict.fromkeys("layers" if k.startswith("layers.") else k for k in keys))


def largest_gap(res: Results) -> str | None:
    gaps = [(r.last["accuracy"] - r.last["val_accuracy"], r) for r in res.runs
            if r.done and "accuracy" in r.last and "val_accuracy" in r.last]  # fmt: skip
    if not gaps:
        return None
    gap, r = max(gaps, key=lambda g: g[0])
    if gap <= 0:
        return "At the end every run's validation accuracy was at or above its training accuracy."
    return (
        f"The widest gap at the end between training and validation accuracy is {100 * gap:.1f} points "
        f"({res.labels[r.run]}: {r.last['accuracy']:.4f} against {r.last['val_accuracy']:.4f} after epoch {r.epochs})."
    )


def time_taken(res: Results) -> str:
    """Training time, counting a shared training once (its longest trial's time)."""
    trainings: dict[frozenset[str], float] = {}
    done = [r for r in res.runs if r.done]
    for r in done:
        group = frozenset([r.run, *r.shared_training])
        trainings[group] = max(trainings.get(group, 0.0), r.seconds or 0.0)
    n = len(trainings)
    return (
        f"Training took {seconds(sum(trainings.values()))} in all: {n} training{'s' if n != 1 else ''} "
        f"for {len(done)} trial{'s' if len(done) != 1 else ''}."
    )


def one_run_noise(row: RunSummary) -> str:
    """Under train's summary: how large a difference from another one-seed run must be to mean anything."""
    found, basis = noise.one_seed_noise([row], "test_accuracy")
    size = f"{100 * (found or noise.SEED_SPREAD):.1f} points"
    return (
        f"One seed: a difference in test accuracy from another run below about {size} cannot be judged "
        f"({basis}); --repeats 3 measures the spread."
    )
