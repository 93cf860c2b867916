"""The `fashionlab` command: parse, call one library function, render. Nothing else.

common.py holds the app, its one error wrapper and the shared options; the commands live by topic in
inspect.py (data, show, runs, compare, curves, report, schema), model.py (train, evaluate, predict,
export) and experiments.py (sweep, search).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

from fashionlab import compat
from fashionlab.cli.common import app, os_error, state, version_callback
from fashionlab.errors import stop_requested

# commands register, and --help lists them, in this order
for _topic in ("inspect", "model", "inside", "experiments", "dashboard"):
    importlib.import_module(f"fashionlab.cli.{_topic}")

__all__ = ["app", "entry"]


@app.callback()
def main(
    runs: Annotated[
        str | None,
        typer.Option(
            "--runs-dir",
            envvar="FASHIONLAB_RUNS",
            help="Where runs are stored (empty: the default).",
            show_default="runs",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version.")
    ] = False,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            envvar="FASHIONLAB_LANG",
            help="Write results in en or es (Spanish), given before or after the command. Default: es where "
            "$LANG is Spanish, else en.",
            autocompletion=lambda: ["en", "es"],
        ),
    ] = None,
) -> None:
    """Train Keras classifiers on Fashion-MNIST from small YAML configs, and compare what changed."""
    from fashionlab import i18n

    if lang is not None and lang not in i18n.LANGUAGES:
        raise typer.BadParameter(f"{lang} is not known; use {' or '.join(i18n.LANGUAGES)}", param_hint="--lang")
    i18n.set_language(lang)
    state["debug"] = debug
    state["runs_dir"] = runs


def entry() -> None:
    """Console-script entry point."""
    try:
        try:
            app()
            sys.stdout.flush()  # a full or failing output is said here, not at the interpreter's exit
        except KeyboardInterrupt:  # a signal between start-up and the command's own handler (Click parsing)
            raise SystemExit(130) from None
        except OSError as exc:  # writing --help or --version to a full device, before any command ran
            if state["debug"] or exc.errno is None:
                raise
            sys.stderr.write(f"Error: {os_error(exc)}\n")
            raise SystemExit(7) from None
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        signum = stop_requested()
        if signum is not None and not state.get("stop_reported"):  # Click took it and said nothing
            _say_stopped(signum)
            code = 128 + signum
            if "jax" not in sys.modules:
                raise SystemExit(code) from None
        if "jax" not in sys.modules:
            raise
        _exit_without_teardown(code)


def _say_stopped(signum: int) -> None:
    import signal

    sys.stderr.write("Interrupted.\n" if signum == signal.SIGINT else f"Stopped by {signal.Signals(signum).name}.\n")


def _exit_without_teardown(code: int) -> None:
    """End a process that loaded JAX without tearing down its modules: what Python does at exit (wait
    for non-daemon threads, run atexit handlers, flush) and then os._exit. Tearing down JAX, XLA and
    Keras module by module takes ~0.5 s after every train, predict or evaluate (BENCHMARKS.md);
    skipping it loses nothing, since every file fashionlab writes is closed before the command returns."""
    import threading

    backend = sys.modules.get("fashionlab.engine.backend")
    if code >= 128 and not getattr(backend, "loaded", False):
        # stopped while JAX was still being imported: its exit handlers would run on half-made state
        # (a segmentation fault, seen once in 20 SIGTERMs at 0.8 s); nothing of fashionlab's is open then
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    compat.run_exit_handlers()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
