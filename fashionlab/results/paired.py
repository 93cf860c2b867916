"""Findings and comparisons on the test images themselves (EVIDENCE.md): two models on the same images.

checkpoints  the best epoch's model against the kept one, of one training: McNemar's exact test on the images
             one gets right and the other wrong, the paired interval of the per-image loss, each one's errors
             and confidence on wrong answers (measured when the run ended: metrics.json)
confidence   over a sweep of epochs, the shortest and the longest training of one seed: is the longer one more
             confident when it is wrong (an interval of the difference that excludes 0, and the share of errors
             above 99% moving the same way), from their images.npz
Comparisons of one seed per setting get the two runs' paired test (`Comparison.paired`): a statement about
these two models, never about the settings.
"""

from __future__ import annotations

from typing import Any

from fashionlab.results.model import Comparison, Finding, Results, RunSummary

MOST_PAIRED = 3  # one-seed comparisons given the paired test: the ones the sentences say (views MOST_COMPARISONS)


def checkpoints(group: list[RunSummary], labels: dict[str, str]) -> list[Finding]:
    """Once per training, from its longest run, where it kept a best-epoch model other than the last."""
    row = group[-1]
    found = row.checkpoints
    if not found or not isinstance(found.get("mcnemar"), dict) or not isinstance(found.get("a"), dict):
        return []
    numbers = {**found, "best_epoch": found["a"].get("epoch"), "kept_epoch": found["b"].get("epoch"),
               "more_confident": more_confident(found)}  # fmt: skip
    return [Finding("checkpoints", [row.run], numbers, labels.get(row.run, row.run))]


def more_confident(found: dict[str, Any]) -> bool | None:
    """b is more confident than a when wrong: the interval of b - a excludes 0 upwards and the share of errors
    above 99% grew too (True); it is less confident, the same way down (False); None: the numbers do not say."""
    change = found.get("confidence_wrong")
    a, b = found.get("a") or {}, found.get("b") or {}
    if not change or a.get("sure_share") is None or b.get("sure_share") is None:
        return None
    if change["low"] > 0 and b["sure_share"] > a["sure_share"]:
        return True
    if change["high"] < 0 and b["sure_share"] < a["sure_share"]:
        return False
    return None


def two_runs(a: RunSummary, b: RunSummary) -> dict[str, Any] | None:
    """The two runs' kept models on the same test images, with the run ids; None without both images.npz."""
    from fashionlab import evidence

    mine = a.images() if a.images else None
    theirs = b.images() if b.images else None
    if mine is None or theirs is None:
        return None
    found = evidence.two_models(mine.kept, theirs.kept)
    if found is None:
        return None
    return {**found, "run_a": a.run, "run_b": b.run, "more_confident": more_confident(found)}


def confidence_over_epochs(res: Results, ordered: list[Any]) -> dict[str, Any] | None:
    """Over a sweep of epochs (settings in epochs order): the shortest and the longest run of the first seed both
    have, compared on their images."""
    first, last = ordered[0].runs, ordered[-1].runs
    by_seed = {r.seed: r for r in last}
    pair = next(((r, by_seed[r.seed]) for r in first if r.seed in by_seed), None)
    return two_runs(*pair) if pair else None


def pair_comparisons(res: Results) -> None:
    """The paired test of the two runs of each one-seed comparison the sentences say."""
    by_run = {r.run: r for r in res.runs}
    for found in [c for c in res.comparisons if c.p is None and len(c.a_runs) == len(c.b_runs) == 1][:MOST_PAIRED]:
        a, b = by_run.get(found.a_runs[0]), by_run.get(found.b_runs[0])
        if a is not None and b is not None:
            found.paired = two_runs(a, b)
            _identical(found)


def _identical(found: Comparison) -> None:
    from fashionlab.results.model import Verdict

    if found.paired and found.paired.get("identical"):
        found.verdict, found.why = Verdict.IDENTICAL, "bit-identical answers on every test image: no test"
