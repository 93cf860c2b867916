"""The console script's first code: Ctrl-C, SIGTERM and SIGHUP are taken over before anything is imported,
so a signal in the first tenth of a second stops the command as one later does (exit 130/143, one line),
instead of landing in an import that drops it."""

from __future__ import annotations

import sys


def main() -> None:
    from fashionlab.errors import Interrupted, raise_if_stopped, stop_on_signals

    stop_on_signals()
    _streams()
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


def _streams() -> None:
    """Standard streams the console can use: a closed stderr is /dev/null; a closed stdout is refused in
    one line (exit 7, the results would be lost); a stream that cannot encode every character (a latin-1
    terminal) shows '?' for the ones it lacks instead of failing."""
    import os

    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process's stderr from now on
    if sys.stdout is None:
        sys.stderr.write(
            "Error: standard output is closed; run the command with its output going to a terminal, a file or "
            "a pipe (> /dev/null to drop it)\n"
        )
        sys.exit(7)
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding not in ("utf8", "utf16", "utf32") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
