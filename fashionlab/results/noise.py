"""How sure a difference is: Welch's t-test over seeds, or with one seed a noise estimate from what is there.

With several seeds per setting a difference with p < 0.05 is better or worse; otherwise it is inconclusive
with that many seeds (never "tied": the direction, how many seeds agree and roughly how many would resolve
it are said). With one seed the noise is estimated from the runs themselves (how much val_accuracy wanders
from epoch to epoch over the plateau) and from the known seed spread of the tutorial model; a difference
below it cannot be judged.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from fashionlab.results.model import Comparison, RunSummary, Setting, Verdict, lower_is_better

SIGNIFICANT = 0.05  # p below this: a difference, not seed noise
SEED_SPREAD = 0.01  # test accuracy of the tutorial model over seeds 1-3 spans about this much (REFERENCE.md)
SEED_SD = SEED_SPREAD / 1.69  # the sd that range implies (the expected range of 3 normal draws is 1.69 sd)
Z_POWER = 1.96 + 0.84  # two-sided 5% test with 80% power
MIN_PLATEAU = 4  # epochs: fewer and the wander is not estimated


def wander(history: list[dict[str, float]]) -> float | None:
    """The sd of val_accuracy over the last half of the epochs (the plateau), None for short runs."""
    values = [row["val_accuracy"] for row in history if math.isfinite(row.get("val_accuracy", math.nan))]
    plateau = values[len(values) // 2 :]
    if len(values) < 2 * MIN_PLATEAU:
        return None
    return statistics.stdev(plateau)


def one_seed_noise(runs: list[RunSummary], metric: str) -> tuple[float | None, dict[str, Any]]:
    """The difference in `metric` below which two one-seed runs cannot be told apart, and what it rests on:
    the 95% band of a difference of two runs, 1.96 x sqrt(2) x the sd of one run, from the larger of the
    tutorial model's seed sd and how much val_accuracy wandered over the runs' plateaus, and from the test
    set's size (a binomial sd: 100 test images alone make accuracy uncertain by about 4 points)."""
    if "accuracy" not in metric:
        return None, {"source": "none", "metric": metric}
    wanders = [r.wander for r in runs if r.wander is not None]
    basis: dict[str, Any] = {"source": "seeds", "seed_spread": SEED_SPREAD}
    sd = SEED_SD
    if wanders and max(wanders) > SEED_SD:
        sd, basis = max(wanders), {"source": "wander", "wander": max(wanders)}
    sampled = [(r.test.accuracy * (1 - r.test.accuracy) / r.test_samples, r.test_samples)
               for r in runs if r.test is not None and r.test_samples]  # fmt: skip
    binomial, n = max(sampled, default=(0.0, 0))
    if binomial > sd**2:
        basis.update(test_images=n, test_sd=math.sqrt(binomial))
    return 1.96 * math.sqrt(2 * (sd**2 + binomial)), basis


def seeds_needed(a: list[float], b: list[float]) -> int | None:
    """Seeds per setting that would likely (80%) show a difference this size at p < 0.05."""
    if len(a) < 2 or len(b) < 2:
        return None
    diff = statistics.fmean(a) - statistics.fmean(b)
    sd = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
    if diff == 0 or sd == 0:
        return None
    return max(len(a) + 1, math.ceil(2 * (Z_POWER * sd / diff) ** 2))


def agreeing(a: Setting, b: Setting, metric: str, diff: float) -> tuple[int, int] | None:
    """Of the seeds both settings ran, in how many `a` minus `b` has the sign of `diff`."""
    theirs = {r.seed: r.value(metric) for r in b.runs if isinstance(r.value(metric), int | float)}
    pairs = [(r.value(metric), theirs[r.seed]) for r in a.runs if r.seed in theirs and r.value(metric) is not None]
    if len(pairs) < 2 or diff == 0:
        return None
    return sum((x - y) * diff > 0 for x, y in pairs), len(pairs)


def compare(a: Setting, b: Setting, metric: str) -> Comparison:
    """Setting `a` against `b` on `metric`."""
    from fashionlab import metrics  # numpy and scipy: not for --help or the tables' import

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
    test = metrics.welch(mine, theirs)
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
    if found.noise is None:
        found.why = f"one seed per setting gives no noise estimate for {metric}"
    elif abs(diff) < found.noise:
        found.why = f"below the noise of about {100 * found.noise:.1f} points (its basis: `basis`)"
    else:
        found.verdict = direction
        found.why = f"above the noise of about {100 * found.noise:.1f} points (its basis: `basis`)"
    return found
