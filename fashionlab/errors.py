"""Errors a user can cause, each with the exit code the CLI gives it; stopping on a signal.

The library raises these and never prints or exits; the CLI turns them into one line on stderr.
A message names the Python parameter it is about in backticks (`index`, `runs_dir`); the CLI shows
each as its command-line flag (--index, --runs-dir).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class FashionlabError(Exception):
    """Something the user can fix. The message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(FashionlabError):
    """A config file or override is wrong. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class DataError(FashionlabError):
    """The data set's files are missing or do not verify."""

    exit_code = 3


class RunNotFound(FashionlabError):
    """A run id (or 'latest') names no run in the runs directory."""

    exit_code = 4


class RunError(FashionlabError):
    """A run directory exists but cannot be used (broken files, wrong model, ...)."""

    exit_code = 5


class InputError(FashionlabError):
    """A command-line argument is out of range or names a file that cannot be read."""

    exit_code = 6


class StorageError(FashionlabError):
    """The runs directory cannot be written (read-only, full, not a directory)."""

    exit_code = 7


class Busy(FashionlabError):
    """Another fashionlab process is training the same run or search right now."""

    exit_code = 8


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, or SIGTERM/SIGHUP turned into the same orderly stop.

    `signum` gives the exit code (128 + signum); `outcomes` says what became of the work that was under way
    (a training's runs, a group's trials), where the code that was stopped knew it.
    """

    def __init__(self, signum: int = 2, outcomes: list[Any] | None = None) -> None:
        super().__init__(signum)
        self.signum = signum
        self.outcomes = outcomes


_caught: list[int] = []  # a signal that asked this process to stop and is still to be raised
_received: list[int] = []  # every signal that asked this process to stop, first first

# Python calls a signal handler between two bytecodes of whatever runs then. Where that is a garbage
# collector's callback or a __del__ (JAX's _xla_gc_callback runs often while JAX loads), an exception
# raised there is printed as "Exception ignored in ..." and dropped: the stop would be lost. The handler
# does not raise there; the signal waits in _caught and raise_if_stopped() acts on it at the next safe point.
_NO_RAISE_IN = frozenset({"_xla_gc_callback", "__del__", "_remove", "callback"})


def _inside_a_callback(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_name in _NO_RAISE_IN:
            return True
        frame = frame.f_back
    return False


def raise_if_stopped() -> None:
    """At a safe point (after the framework's import, between blocks of steps, at each epoch): raise
    Interrupted for a signal that arrived but could not raise where it landed (then it is delivered)."""
    if _caught:
        signum = _caught[0]
        _caught.clear()
        raise Interrupted(signum)


def stop_requested() -> int | None:
    """The signal that asked this process to stop, if one did."""
    return _received[0] if _received else None


def stop_on_signals(second_ctrl_c_stops: bool = True) -> None:
    """From now on SIGTERM and SIGHUP stop this process as Ctrl-C does (raising Interrupted); after the
    first, further SIGTERMs and SIGHUPs are ignored while it cleans up and a second Ctrl-C stops it at once.
    Call in the main thread. A sweep's worker passes `second_ctrl_c_stops=False`: the group's Ctrl-C and
    the sweep's SIGTERM may reach it in either order, and only the first may stop it (in order)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        _received.append(signum)
        signal.signal(signal.SIGINT, again if second_ctrl_c_stops else ignore)
        signal.signal(signal.SIGTERM, ignore)  # a Python no-op, not SIG_IGN: one already caught must not warn
        signal.signal(signal.SIGHUP, ignore)
        if _inside_a_callback(frame):
            _caught.append(signum)  # raised here it would be dropped: the next safe point raises it
        else:
            raise Interrupted(signum)

    def again(signum: int, frame: Any) -> None:  # a second Ctrl-C stops at once, wherever it lands
        if not _inside_a_callback(frame):
            raise KeyboardInterrupt

    def ignore(signum: int, frame: Any) -> None:
        pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP arriving inside the block acts when it ends: for work that must happen
    whole (every member of a population recording the same epoch). Main thread only; elsewhere a no-op."""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved: dict[int, Any] = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for signum in saved:
        signal.signal(signum, lambda n, frame: caught.append(n))
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    if caught:
        handler = saved[caught[0]]
        if callable(handler):
            handler(caught[0], None)
        elif handler != signal.SIG_IGN:
            os.kill(os.getpid(), caught[0])  # the default action, now
