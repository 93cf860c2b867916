"""How sure a difference is: Welch's t-test over seeds, or with one seed a noise estimate from what is there.

With several seeds per setting a difference with p < 0.05 is better or worse; otherwise it is inconclusive
with that many seeds (never "tied": the direction, how many seeds agree and how many seeds a t-based power
computation says would resolve it are said). With one seed per setting nothing can separate the setting
from its seed (EVIDENCE.md): the verdict is always "cannot judge"; the noise the runs themselves show (how
much val_accuracy wanders over the plateau, and the test set's size) is said beside it, never a spread
borrowed from another model.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from fashionlab.results.model import Comparison, RunSummary, Setting, Verdict, lower_is_better

SIGNIFICANT = 0.05  # p below this: a difference, not seed noise
POWER = 0.8  # seeds_needed: the chance a true difference of the size seen would reach p < SIGNIFICANT
MIN_PLATEAU = 4  # epochs: fewer and the wander is not estimated


def wander(history: list[dict[str, float]]) -> float | None:
    """The sd of val_accuracy over the last half of the epochs (the plateau), None for short runs."""
    values = [row["val_accuracy"] for row in history if math.isfinite(row.get("val_accuracy", math.nan))]
    plateau = values[len(values) // 2 :]
    if len(values) < 2 * MIN_PLATEAU:
        return None
    return statistics.stdev(plateau)


def one_seed_noise(runs: list[RunSummary], metric: str) -> tuple[float | None, dict[str, Any]]:
    """The difference in `metric` that these one-seed runs' own noise makes meaningless, and what it rests
    on: the 95% band of a difference of two runs, 1.96 x sqrt(2) x the sd of one run, from how much
    val_accuracy wandered over the runs' plateaus and from the test set's size (a binomial sd: 100 test
    images alone make accuracy uncertain by about 4 points). None where neither was measured. Above it a
    setting still cannot be told from its seed: that needs seeds."""
    if "accuracy" not in metric:
        return None, {"source": "none", "metric": metric}
    wanders = [r.wander for r in runs if r.wander is not None]
    sd = max(wanders, default=0.0)
    basis: dict[str, Any] = {"source": "wander", "wander": sd} if wanders else {"source": "test set"}
    sampled = [(r.test.accuracy * (1 - r.test.accuracy) / r.test_samples, r.test_samples)
               for r in runs if r.test is not None and r.test_samples]  # fmt: skip
    binomial, n = max(sampled, default=(0.0, 0))
    if binomial > 0:
        basis.update(test_images=n, test_sd=math.sqrt(binomial))
    if sd == 0 and binomial == 0:
        return None, {"source": "none", "metric": metric}
    return 1.96 * math.sqrt(2 * (sd**2 + binomial)), basis


MAX_SEEDS = 1000  # seeds_needed says "more than this" past it
Z_HALF_ALPHA, Z_POWER = 1.959963984540054, 0.8416212335729143  # the normal quantiles of 1 - SIGNIFICANT/2, POWER


def repeats_index(pool: list[RunSummary], metric: str) -> dict[Any, list[RunSummary]]:
    """The runs folder's completed runs with a `metric`, by setting (their config but the seed): made once."""
    by_setting: dict[Any, list[RunSummary]] = {}
    for row in pool:
        if row.status == "completed" and isinstance(row.value(metric), int | float):
            by_setting.setdefault(row.setting(), []).append(row)
    return by_setting


def from_repeats(found: Comparison, a: Setting, b: Setting, by_setting: dict[Any, list[RunSummary]]) -> None:
    """A one-seed comparison where the runs folder holds repeats of the same model and data (the same config
    but the seed) of either side (`by_setting`: repeats_index): their measured spread of the metric, pooled, is
    the noise (naming those runs), and seeds_needed comes from it by the t-based power computation."""
    variances, named = [], []
    for side in (a, b):
        seen = {r.seed: r for r in by_setting.get(side.runs[0].setting(), [])}  # one run per seed
        if len(seen) >= 2:
            values = [float(r.value(found.metric)) for r in seen.values()]
            variances.append(statistics.variance(values))
            named += sorted(r.run for r in seen.values())
    if not variances:
        return
    sd = math.sqrt(statistics.fmean(variances))
    found.basis = {"source": "repeats", "runs": named, "sd": sd, "metric": found.metric}
    if sd > 0:
        found.noise = 1.96 * math.sqrt(2) * sd
        found.seeds_needed = t_seeds(abs(found.diff) / sd) if found.diff else None


def seeds_needed(a: list[float], b: list[float]) -> int | None:
    """Seeds per setting with which a two-sided t-test at p < 0.05 would have an 80% chance to show a true
    difference the size of this one, given the spread these seeds measured: the smallest n whose power,
    from the noncentral t distribution (pvalues.power, df 2n - 2), reaches POWER. At least one more seed
    than there are; None where nothing can be said (no spread or no difference, or past MAX_SEEDS)."""
    if len(a) < 2 or len(b) < 2:
        return None
    diff = statistics.fmean(a) - statistics.fmean(b)
    sd = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
    if diff == 0 or sd == 0:
        return None
    return t_seeds(abs(diff) / sd, start=max(len(a), len(b)) + 1)


def t_seeds(effect: float, start: int = 2) -> int | None:
    """The smallest n >= start with power >= POWER for a standardized difference `effect` (two samples of n).
    The power grows with n: 8 values around the normal approximation's n settle it (a table of 1,000
    comparisons asks it 1,000 times); where they do not, the whole range is searched."""
    import numpy as np

    from fashionlab.pvalues import power

    first = max(2, start)
    guess = max(first, int(2 * ((Z_HALF_ALPHA + Z_POWER) / effect) ** 2) - 2) if effect > 0 else first
    n = np.arange(guess, min(guess + 8, MAX_SEEDS + 1))
    if len(n):
        reached = np.flatnonzero(power(effect, n, SIGNIFICANT) >= POWER)
        if len(reached) and (reached[0] > 0 or guess == first):  # its first n is the first: one below falls short
            return int(n[reached[0]])
    for low, high in ((first, first + 64), (first + 64, MAX_SEEDS + 1)):  # one vectorized call each
        if low >= high:
            break
        n = np.arange(low, high)
        reached = np.flatnonzero(power(effect, n, SIGNIFICANT) >= POWER)
        if len(reached):
            return int(n[reached[0]])
    return None


def agreeing(a: Setting, b: Setting, metric: str, diff: float) -> tuple[int, int] | None:
    """Of the seeds both settings ran, in how many `a` minus `b` has the sign of `diff`."""
    theirs = {r.seed: r.value(metric) for r in b.runs if isinstance(r.value(metric), int | float)}
    pairs = [(r.value(metric), theirs[r.seed]) for r in a.runs if r.seed in theirs and r.value(metric) is not None]
    if len(pairs) < 2 or diff == 0:
        return None
    return sum((x - y) * diff > 0 for x, y in pairs), len(pairs)


def identical(a: Setting, b: Setting) -> bool:
    """Two settings whose runs, paired by seed, have bit-equal test numbers and last-epoch numbers: they
    compute the same thing (sparse and categorical crossentropy on the same labels, a value at its
    default), and no test is run on identical numbers (EVIDENCE.md)."""

    def by_seed(s: Setting) -> dict[Any, Any]:
        return {r.seed: (r.test, sorted(r.last.items())) for r in s.runs}

    mine, theirs = by_seed(a), by_seed(b)
    return (
        bool(mine)
        and mine.keys() == theirs.keys()
        and all(mine[k] == theirs[k] and mine[k][0] is not None for k in mine)
    )


def compare(a: Setting, b: Setting, metric: str, test: dict[str, float] | None) -> Comparison:
    """Setting `a` against `b` on `metric`; `test`: Welch's test of their numbers (metrics.welch_many makes
    those of a table at once), None with fewer than 2 seeds a side."""
    from fashionlab import metrics  # numpy: not for --help or the tables' import

    mine, theirs = a.numbers(metric), b.numbers(metric)
    diff = (statistics.fmean(mine) - statistics.fmean(theirs)) if mine and theirs else math.nan
    direction = Verdict.BETTER if (diff < 0) == lower_is_better(metric) else Verdict.WORSE
    found = Comparison(
        metric, a.describe(), b.describe(), [r.run for r in a.runs], [r.run for r in b.runs], mine, theirs, diff,
        Verdict.CANNOT_JUDGE, "",
    )  # fmt: skip
    if not mine or not theirs:
        found.why = f"no {metric} on one side"
        return found
    if identical(a, b):
        found.verdict, found.why = Verdict.IDENTICAL, "equal test and training numbers on every seed: no test"
        return found
    if test is not None:
        found.p, found.low, found.high = test["p"], test["low"], test["high"]
        found.agree = agreeing(a, b, metric, diff)
        n = f"{len(mine)} seeds" if len(mine) == len(theirs) else f"{len(mine)} and {len(theirs)} seeds"
        if test["p"] < SIGNIFICANT:
            found.verdict, found.why = direction, f"Welch's t-test over {n}, {metrics.p_text(test['p'])}"
        else:
            found.verdict = Verdict.INCONCLUSIVE
            found.seeds_needed = seeds_needed(mine, theirs)
            found.why = f"Welch's t-test over {n}, {metrics.p_text(test['p'])}: not below {SIGNIFICANT}"
        return found
    found.noise, found.basis = one_seed_noise([*a.runs, *b.runs], metric)
    found.why = "one seed per setting: a setting cannot be told from its seed"  # whatever the size (EVIDENCE.md)
    if found.noise is not None:
        found.why += f"; below about {100 * found.noise:.1f} points the runs' own noise hides it (`basis`)"
    return found
