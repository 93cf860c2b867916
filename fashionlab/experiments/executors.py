"""Where a sweep's groups train: in this process, in worker processes (LocalExecutor), or as Ray tasks
(experiments/ray.py). Each executor runs groups, forwards their events and records their outcomes.
"""

from __future__ import annotations

import os
import queue as queue_mod
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from fashionlab.experiments.trials import Event, run_group
from fashionlab.store import RunStore, TrialOutcome

Record = Callable[[list[TrialOutcome]], bool]  # records outcomes; True when one of them did not complete
Dispatch = Callable[[Event], None]


class Executor(Protocol):
    def run(
        self, groups: list[list[dict[str, Any]]], store: RunStore, log_id: str, record: Record, dispatch: Dispatch,
        fail_fast: bool,
    ) -> bool:  # fmt: skip
        """Train every group (each a list of resolved configs); True when it stopped early (fail_fast)."""
        ...


def default_jobs(trainings: int) -> int:
    """2 when there are 2+ cores and 2+ trainings (1.2x faster on 2 cores, BENCHMARKS.md), else 1."""
    return max(1, min(2, os.cpu_count() or 1, trainings))


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

    On Linux a worker also dies with the sweep process (kill -9 included), so no orphan keeps training.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    os.environ.update(thread_env(threads))


class LocalExecutor:
    """Groups one after another in this process, or in `jobs` worker processes with their share of the cores."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def run(
        self, groups: list[list[dict[str, Any]]], store: RunStore, log_id: str, record: Record, dispatch: Dispatch,
        fail_fast: bool,
    ) -> bool:  # fmt: skip
        if self.jobs > 1 and len(groups) > 1:
            return self._parallel(groups, store, log_id, record, dispatch, fail_fast)
        for i, group in enumerate(groups):
            if record(run_group(group, str(store.root), f"g{i}", dispatch, log_id)) and fail_fast:
                return True
        return False

    def _parallel(
        self, groups: list[list[dict[str, Any]]], store: RunStore, log_id: str, record: Record, dispatch: Dispatch,
        fail_fast: bool,
    ) -> bool:  # fmt: skip
        """Progress events come back from the workers through a managed queue."""
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = mp.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        stopped = False
        with ctx.Manager() as manager:
            events = manager.Queue()
            with ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads,)
            ) as pool:
                futures = {
                    pool.submit(run_group, group, str(store.root), f"g{i}", events, log_id)
                    for i, group in enumerate(groups)
                }
                waiting = set(futures)
                while waiting:
                    for event in _drain(events):
                        dispatch(event)
                    finished, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        for event in _drain(events):
                            dispatch(event)
                        if record(future.result()) and fail_fast:
                            stopped = True
                            for other in waiting:
                                other.cancel()
                    if stopped:
                        waiting = {f for f in waiting if not f.cancelled()}
        return stopped


def _drain(events: Any) -> Iterator[Event]:
    while True:
        try:
            yield events.get_nowait()
        except queue_mod.Empty:
            return
