"""The console script's first code: Ctrl-C, SIGTERM and SIGHUP are taken over before anything is imported,
so a signal in the first tenth of a second stops the command as one later does (exit 130/143, one line),
instead of landing in an import that drops it."""

from __future__ import annotations

import sys


def main() -> None:
    from fashionlab.errors import Interrupted, raise_if_stopped, stop_on_signals

    stop_on_signals()
    try:
        from fashionlab.cli import entry

        raise_if_stopped()
    except KeyboardInterrupt as exc:
        import signal

        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        name = "Interrupted." if signum == signal.SIGINT else f"Stopped by {signal.Signals(signum).name}."
        sys.stderr.write(name + "\n")
        sys.exit(128 + signum)
    entry()
