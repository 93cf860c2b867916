"""Where the groups of a sweep or search train: in this process, in worker processes (LocalExecutor), or
as Ray tasks (experiments/ray_executor.py). Each executor takes groups from a source as it has room for
them (a sweep's list, or a search asking Optuna for the next trial only when a slot is free), trains
each with run_group (its locks, its check for runs trained meanwhile), passes their events on to the
sink (fashionlab.events; from a worker process through its queue) and records their outcomes.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_mod
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fashionlab.errors import Interrupted, stop_on_signals
from fashionlab.events import Event, Sink
from fashionlab.experiments.trials import run_group
from fashionlab.store import RunStore, TrialOutcome


@dataclass
class Group:
    """Trials trained by one training (or one population): their resolved configs, a label for progress."""

    label: str
    configs: list[dict[str, Any]]
    pruner: Any = None  # a search's, asked after each epoch (in this process only)


GroupSource = Callable[[], "Group | None"]  # the next group to train; None: no more
Record = Callable[[Group, list[TrialOutcome]], bool]  # records a group's outcomes; True when one did not complete


def groups_of(groups: list[Group]) -> GroupSource:
    """A source that hands out a fixed list of groups (a sweep's)."""
    left = iter(groups)
    return lambda: next(left, None)


class Executor(Protocol):
    def run(
        self, source: GroupSource, store: RunStore, log_id: str, record: Record, events: Sink | None, fail_fast: bool
    ) -> bool:
        """Train every group the source gives; True when it stopped early (fail_fast)."""
        ...


def default_jobs(trainings: int) -> int:
    """2 when there are 2+ cores and 2+ trainings (1.2x faster on 2 cores, BENCHMARKS.md), else 1."""
    return max(1, min(2, os.cpu_count() or 1, trainings))


def jobs_that_fit(jobs: int, groups: list[Any]) -> tuple[int, str | None]:
    """At most as many worker processes as the free memory holds, each training the largest of the
    planned `groups` (network.memory_estimate: ~1.5 GB for the tutorial model on the full data); and a
    sentence when that is fewer than asked."""
    from fashionlab.network import _gb, memory_available, memory_estimate

    if jobs <= 1 or not groups:
        return jobs, None
    each = max(memory_estimate(g[-1].config, len({t.config.group_key() for t in g})).total for g in groups)
    free = memory_available()[1]
    fits = max(1, int(0.9 * free // each))
    if fits >= jobs:
        return jobs, None
    return fits, (
        f"--jobs {jobs} lowered to {fits}: each worker needs about {_gb(each)} and {_gb(free)} of memory is free"
    )


def thread_env(threads: int) -> dict[str, str]:
    """Environment that limits every framework in a trial's process to `threads` threads."""
    xla = os.environ.get("XLA_FLAGS", "")
    return {
        "XLA_FLAGS": f"{xla} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}".strip(),
        **dict.fromkeys(
            ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), str(threads)
        ),
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
    }


def _init_worker(threads: int) -> None:
    """Give each worker process its share of the cores, before any framework is imported.

    On Linux a worker also dies with the sweep process (kill -9 included), so no orphan keeps training;
    a signal (Ctrl-C to the process group, or the SIGTERM the sweep sends) stops its training in order.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    os.environ.update(thread_env(threads))
    stop_on_signals(second_ctrl_c_stops=False)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked since its start (_start): now handled


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _start(worker: Any) -> None:
    """Start a worker process with Ctrl-C and SIGTERM blocked: it inherits the mask, so a signal that
    comes while Python starts and imports (before _init_worker installs the handlers) waits for them
    instead of printing a KeyboardInterrupt traceback from multiprocessing's spawn_main."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        worker.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _work(tasks: Any, results: Any, threads: int, runs_dir: str, log_id: str) -> None:
    """A worker process: train the groups it is handed until told to stop (None), stopped by a signal, or
    orphaned: its parent's death is noticed within a second while it waits (the parent pid changes), and
    through the parent-death signal (Linux) or its next event while it trains."""
    parent = os.getppid()
    sink = _QueueSink(results, parent)
    try:
        _init_worker(threads)  # a signal that came while it started is raised here, as Interrupted
        while (task := _next_task(tasks, parent)) is not None:
            index, group = task
            results.put(("took", index, os.getpid()))
            try:
                outcomes = run_group(group.configs, runs_dir, group.label, sink, log_id)
            except Interrupted as stop:
                results.put(("done", index, stop.outcomes or []))
                return
            results.put(("done", index, outcomes))
    except Interrupted:
        return
    finally:
        results.close()
        if os.getppid() == parent:
            results.join_thread()  # everything sent has reached the sweep before the worker exits
        else:
            results.cancel_join_thread()  # nobody reads any more: a full pipe would hold the worker for ever


def _next_task(tasks: Any, parent: int) -> Any:
    """The next group to train (None: no more), waiting a second at a time, so that neither the parent's
    death nor a signal that could only be kept (raised at the next safe point) goes unnoticed."""
    from fashionlab.errors import raise_if_stopped

    while True:
        raise_if_stopped()
        if os.getppid() != parent:
            return None  # the sweep died (kill -9): nobody will hand out work or read results
        try:
            return tasks.get(timeout=1.0)
        except queue_mod.Empty:
            continue


class _QueueSink:
    """A worker's sink: each event, as it is, onto the queue the sweep reads."""

    def __init__(self, results: Any, parent: int) -> None:
        self.results, self.parent = results, parent

    def emit(self, event: Event) -> None:
        if os.getppid() != self.parent:  # the sweep died: stop training, as its SIGTERM would
            raise Interrupted(signal.SIGTERM)
        self.results.put(("event", event))


class LocalExecutor:
    """Groups one after another in this process, or in `jobs` worker processes with their share of the cores.

    Stopped by Ctrl-C, SIGTERM or SIGHUP, it hands out no more groups, stops the workers' trainings (each
    run keeps its last checkpoint and is marked interrupted), records what each trial came to, and leaves
    no process behind.
    """

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def run(
        self, source: GroupSource, store: RunStore, log_id: str, record: Record, events: Sink | None, fail_fast: bool
    ) -> bool:
        if self.jobs > 1:  # worker processes: the groups are handed out from a list (a sweep's)
            groups = list(iter(source, None))
            if len(groups) > 1:
                return _Pool(self.jobs, groups, store, log_id).run(record, events, fail_fast)
            source = groups_of(groups)
        while (group := source()) is not None:
            try:
                outcomes = run_group(group.configs, str(store.root), group.label, events, log_id, pruner=group.pruner)
            except Interrupted as stop:
                record(group, stop.outcomes or [])
                raise
            if record(group, outcomes) and fail_fast:
                return True
        return False


def _died(group: Group, store: RunStore, pid: int, exitcode: int | None) -> list[TrialOutcome]:
    """The outcomes of a group whose worker process died: its runs failed (each keeps its checkpoint, so
    a rerun of the sweep continues it), and trials that had no run yet failed too."""
    from fashionlab.config import Source, validate
    from fashionlab.store import RunStatus

    how = f"killed by {signal.Signals(-exitcode).name}" if exitcode and exitcode < 0 else f"exit code {exitcode}"
    error = f"its worker process (pid {pid}) died, {how}; rerun the sweep to continue it from its checkpoint"
    runs = {str(r.info.config_hash): r for r in store.runs() if r.info.pid == pid}
    outcomes = []
    for data in group.configs:
        config_hash = validate(data, Source(None, {})).hash()
        run = runs.get(config_hash)
        if run is not None and run.info.status == RunStatus.RUNNING:
            run.mark_failed(error)
        status = run.status if run is not None and run.status == RunStatus.COMPLETED else RunStatus.FAILED
        outcomes.append(
            TrialOutcome(
                config_hash, status, run.id if run else None, error=error if status != RunStatus.COMPLETED else None
            )
        )
    return outcomes


class _Pool:
    """`jobs` worker processes fed one group at a time, so a stop leaves nothing queued."""

    STOP_GRACE_S = 60  # how long stopped workers get to mark their runs before they are killed

    def __init__(self, jobs: int, groups: list[Group], store: RunStore, log_id: str) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.tasks: Any = ctx.Queue()
        self.results: Any = ctx.Queue()
        threads = max(1, (os.cpu_count() or 1) // jobs)
        args = (self.tasks, self.results, threads, str(store.root), log_id)
        self.workers = [ctx.Process(target=_work, args=args, daemon=True) for _ in range(min(jobs, len(groups)))]
        self.waiting = list(enumerate(groups))
        self.groups = groups
        self.busy = 0
        self.store = store
        self.working: dict[int, int] = {}  # worker pid -> the group it is training
        self.new_worker = lambda: ctx.Process(target=_work, args=args, daemon=True)

    def hand_out(self) -> None:
        if self.waiting:
            self.tasks.put(self.waiting.pop(0))
            self.busy += 1

    def run(self, record: Record, events: Sink | None, fail_fast: bool) -> bool:
        stopped = False
        try:
            for worker in self.workers:
                _start(worker)
                self.hand_out()
            while self.busy:
                message = self._next()
                if message is None:
                    continue
                if message[0] == "event":
                    if events is not None:
                        events.emit(message[1])
                    continue
                if message[0] == "took":
                    self.working[message[2]] = message[1]
                    continue
                self.working = {pid: i for pid, i in self.working.items() if i != message[1]}
                self.busy -= 1
                if record(self.groups[message[1]], message[2]) and fail_fast:
                    stopped = True
                    self.waiting.clear()
                self.hand_out()
        except BaseException:
            self.waiting.clear()
            self._stop(record)
            raise
        finally:
            self._close()
        return stopped

    def _next(self) -> tuple[Any, ...] | None:
        """The next message from a worker; None after a quiet half second. A worker that died (kill -9, out
        of memory) has its group recorded as failed, and a new worker takes its place."""
        try:
            return self.results.get(timeout=0.5)  # type: ignore[no-any-return]
        except queue_mod.Empty:
            for worker in [w for w in self.workers if w.exitcode not in (None, 0)]:
                self.workers.remove(worker)
                index = self.working.pop(worker.pid or -1, None)
                if self.waiting:  # groups are left to train: a new worker takes its place
                    replacement = self.new_worker()
                    _start(replacement)
                    self.workers.append(replacement)
                if index is not None:
                    return ("done", index, _died(self.groups[index], self.store, worker.pid or -1, worker.exitcode))
            return None

    def _stop(self, record: Record) -> None:
        """Stop every worker's training and record the outcomes they send back."""
        for worker in self.workers:
            if worker.is_alive() and worker.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.STOP_GRACE_S
        while self.busy and time.monotonic() < deadline and any(w.is_alive() for w in self.workers):
            try:
                message = self.results.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except Exception:  # a message cut short by a dying worker
                break
            if message[0] == "done":
                self.busy -= 1
                record(self.groups[message[1]], message[2])
        while True:  # outcomes sent just before the workers exited
            try:
                message = self.results.get(timeout=0.05)
            except Exception:  # Empty, or a message cut short
                break
            if message[0] == "done":
                record(self.groups[message[1]], message[2])

    def _close(self) -> None:
        """Every worker gone: told to stop when idle, killed when it does not within seconds."""
        for worker in self.workers:
            if worker.is_alive():
                self.tasks.put(None)
        for worker in self.workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join()
        self.tasks.cancel_join_thread()
        for channel in (self.tasks, self.results):
            channel.close()
        # dropped now, not when an exception's traceback lets go of this pool: their semaphores are then
        # released in order, and the resource tracker finds nothing to clean up (and warn about) at exit
        self.tasks = self.results = None
