"""What a sweep or search says before and after it runs: the preview, the dry-run table, the tallies."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from fashionlab.views.fit import Col, fit
from fashionlab.views.tables import fmt

if TYPE_CHECKING:
    from fashionlab.experiments.plan import Preview
    from fashionlab.experiments.search import SearchPlan, SearchResult
    from fashionlab.experiments.sweep import SweepResult
    from fashionlab.store import SweepRecord


def preview_sentence(p: Preview) -> str:
    n, left, groups = len(p.plan.trials), len(p.pending), len(p.plan.groups(p.pending))  # trainings, merged or not
    shared, separate = p.epochs_to_train, p.epochs_if_separate
    from fashionlab.i18n import _

    head = (_("Sweep {id}: 1 trial") if n == 1 else _("Sweep {id}: {n} trials")).format(id=p.plan.sweep_id, n=n)
    todo = (_(", {done} already done, {left} to train in 1 training ") if groups == 1
            else _(", {done} already done, {left} to train in {groups} trainings ")).format(
        done=n - left, left=left, groups=groups)  # fmt: skip
    return (
        head
        + todo
        + (
            _("({shared} epochs instead of {separate}: trials that differ only in epochs share one training)").format(
                shared=shared, separate=separate
            )
            if shared < separate
            else _("({shared} epochs)").format(shared=shared)
        )
        + (
            (_("; trainings of one program train together as 1 population (--population: one compiled program each)")
             if p.populations == 1 else
             _("; trainings of one program train together as {n} populations (--population: one compiled program "
               "each)")).format(n=p.populations)
            if p.populations
            else ""
        )
        + (
            (_("; 1 trial continues its interrupted run from its last checkpoint") if len(p.unfinished) == 1
             else _("; {n} trials continue their interrupted runs from their last checkpoints")).format(
                n=len(p.unfinished))
            if p.unfinished
            else ""
        )
    )  # fmt: skip


def interrupted_sentence(record: SweepRecord | None) -> str:
    """What an interrupted sweep or search leaves: how many trials completed, were stopped, never started."""
    from fashionlab.i18n import _
    from fashionlab.views.tables import status_word

    if record is None:
        return _("Stopped before any trial started.")
    counts = Counter(str(t.status) for t in record.trials)
    stopped = counts.pop("interrupted", 0)
    parts = [f"{n} {status_word(status)}" for status, n in counts.items() if status != "pending"]
    parts += [_("{n} interrupted (each keeps its finished epochs)").format(n=stopped)] if stopped else []
    parts += [_("{n} not started").format(n=counts["pending"])] if counts.get("pending") else []
    said = _("Sweep {id} stopped: {parts}.") if record.kind == "sweep" else _("Search {id} stopped: {parts}.")
    return said.format(id=record.id, parts=", ".join(parts)) + " " + _("Run the same command again to continue.")


def dry_run_table(p: Preview, width: int | None = None) -> tuple[Table, list[Col]]:
    """The trials, their values, hashes and whether they are done (and by which run, where it fits)."""
    trials = p.plan.trials
    cols = [Col("#", "#", 0, cells=[str(i) for i in range(1, len(trials) + 1)])]
    cols += [Col(key, key, 0, "left", cells=[fmt(t.values.get(key)) for t in trials]) for key in p.plan.axes]
    from fashionlab.i18n import _

    cols.append(Col("hash", "hash", 2, "left", cells=[t.hash for t in trials]))
    status = [_("done") if t.hash in p.done else _("continue") if t.hash in p.unfinished else _("to train")
              for t in trials]  # fmt: skip
    cols.append(Col("status", _("status"), 1, "left", cells=status))
    cols.append(Col("run", _("run"), 3, "left", cells=[p.done[t.hash].id if t.hash in p.done else "" for t in trials]))
    return fit(cols, width)


def dry_run_json(p: Preview) -> dict[str, Any]:
    return {
        "sweep": p.plan.sweep_id,
        "axes": p.plan.axes,
        "trials": [{"hash": t.hash, "values": t.values, "done": t.hash in p.done} for t in p.plan.trials],
        "epochs_to_train": p.epochs_to_train,
        "epochs_if_separate": p.epochs_if_separate,
    }


def search_start_sentence(plan: SearchPlan, trials: int) -> str:
    from fashionlab.i18n import _

    said = (
        _("Search {id}: 1 trial of {spaces}, {sampler} sampler, pruning {prune}, {goal} {metric}") if trials == 1
        else _("Search {id}: {n} trials of {spaces}, {sampler} sampler, pruning {prune}, {goal} {metric}")
    )  # fmt: skip
    return said.format(
        id=plan.search_id, n=trials, spaces=", ".join(f"{k}={v}" for k, v in plan.spaces.items()),
        sampler=plan.sampler, prune=plan.prune, goal=_("maximising") if plan.maximize else _("minimising"),
        metric=plan.metric,
    )  # fmt: skip


def search_sentence(result: SearchResult, study: Path) -> str:
    from fashionlab.i18n import _
    from fashionlab.views.tables import status_word

    best = result.best
    counts = ", ".join(f"{status_word(s)}: {n}" for s, n in result.counts().items())
    n = len(result.trials)
    said = (_("1 trial ({counts}; {new} trained now).") if n == 1
            else _("{n} trials ({counts}; {new} trained now).")).format(n=n, counts=counts, new=result.new)  # fmt: skip
    if best and best.value is not None:
        said += " " + _("Best {metric} {value}: {values} (run {run}).").format(
            metric=result.plan.metric,
            value=f"{best.value:.4f}",
            run=best.run_id,
            values=", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.values.items()),
        )
    return said + " " + _("Study: {path}").format(path=study)


def did_not(failed: list[Any]) -> str:
    """The trials that did not complete, by what a rerun does for them: a diverged trial diverges again
    (same seed, same config), an interrupted one continues, a failed one is tried again."""
    from fashionlab.i18n import _
    from fashionlab.store import RunStatus

    diverged = sum(1 for o in failed if o.status == RunStatus.DIVERGED)
    interrupted = sum(1 for o in failed if o.status == RunStatus.INTERRUPTED)
    other = len(failed) - diverged - interrupted

    parts = []
    if diverged:
        parts.append((_("{n} diverged (a rerun trains it the same way: lower the learning rate)") if diverged == 1
                      else _("{n} diverged (a rerun trains them the same way: lower the learning rate)")
                      ).format(n=diverged))  # fmt: skip
    if interrupted:
        parts.append(_("{n} interrupted (rerun the same command to continue)").format(n=interrupted))
    if other:
        parts.append((_("{n} failed (rerun the same command to retry it)") if other == 1
                      else _("{n} failed (rerun the same command to retry them)")).format(n=other))  # fmt: skip
    return "".join(", " + p for p in parts)


def sweep_sentence(result: SweepResult, record: Path, ahead: Preview) -> str:
    """The sweep's closing line: how many trials completed, what a rerun does for the others, its record."""
    from fashionlab.i18n import _

    n, failed = len(result.plan.trials), len(result.failed)
    unfinished = ahead.unfinished.items()
    continued = sum(1 for h, r in unfinished if (o := result.outcomes.get(h)) and o.completed and o.run_id == r.id)
    done = len(result.skipped)
    head = (_("{done} of 1 trial completed") if n == 1 else _("{done} of {n} trials completed")).format(
        done=n - failed, n=n
    )
    already = (_("{k} was already done") if done == 1 else _("{k} were already done")).format(k=done)
    if continued:
        already += (_(", {k} continued its interrupted run") if continued == 1
                    else _(", {k} continued their interrupted run")).format(k=continued)  # fmt: skip
    fast = " " + _("(stopped at the first failure: --fail-fast)") if result.stopped_early else ""
    return (
        f"{head} ({already})"
        + did_not(result.failed)
        + fast
        + ". "
        + _("Record: {record}").format(record=record)
        + tensorboard_written(result.tensorboard_written, record.parent.parent)
    )


def tensorboard_written(runs: list[Any], root: Path) -> str:
    from fashionlab.i18n import _

    n = len(runs)
    if not n:
        return ""
    said = (
        _("Wrote TensorBoard logs from their history for 1 trial trained before without them")
        if n == 1
        else _("Wrote TensorBoard logs from their history for {n} trials trained before without them")
    ).format(n=n)
    return f"\n{said} (tensorboard --logdir {root})"  # fmt: skip


def logged_sentence(new: int, total: int, uri: str, group: str | None) -> str:
    """What went to MLflow, in one line."""
    from fashionlab.i18n import _

    before = total - new
    said = (_("Logged 1 run to MLflow at {uri}") if new == 1 else _("Logged {n} runs to MLflow at {uri}")).format(
        n=new, uri=uri
    )
    if group:
        said += " " + _("under {group}").format(group=group)
    if before:
        said += " " + _("({k} logged before, left as they were)").format(k=before)
    return said
