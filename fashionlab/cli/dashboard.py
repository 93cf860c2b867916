"""`fashionlab ui`: the dashboard, served until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fashionlab.cli.common import app, err, state, store
from fashionlab.errors import InputError
from fashionlab.i18n import _

LOCAL = ("127.0.0.1", "localhost", "::1")


@app.command()
def ui(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")] = 8000,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on. 127.0.0.1: this machine only; 0.0.0.0: every network."),
    ] = "127.0.0.1",
    runs_dir: Annotated[
        Path | None, typer.Option("--runs-dir", help="The runs folder to show (the same as before the command).")
    ] = None,
) -> None:
    """A local web page over the runs folder: runs, sweeps with their verdicts, live curves, a confusion
    matrix whose cells open their test images, predict a dropped image, the network.

    Read-only: it never deletes, trains or writes into the runs folder. Pages update each epoch while a
    train, sweep or search runs in another terminal. Ctrl-C stops it.

    Example: fashionlab ui, then open http://127.0.0.1:8000/ (fashionlab --lang es ui: in Spanish)
    """
    from fashionlab.ui import serve

    if runs_dir is not None:
        state["runs_dir"] = str(runs_dir)
    root = store().root
    if root.exists() and not root.is_dir():
        raise InputError(f"the runs folder {root} is not a folder; give a folder with --runs-dir")
    if host not in LOCAL:
        warning = _("Warning: --host {host} lets anyone who can reach this machine read {folder} (runs, configs, "
                    "test images); 127.0.0.1 keeps it to this machine.")  # fmt: skip
        err.print(warning.format(host=host, folder=root), style="yellow", markup=False)

    def ready(url: str) -> None:
        said = _("Serving {folder} at {url} (Ctrl-C to stop)").format(folder=f"{root}/", url=url)
        err.print(said, markup=False, soft_wrap=True)  # the address on one line, to copy or click

    serve(root, host, port, ready)
