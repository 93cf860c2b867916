"""`fashionlab ui`: the lab's dashboard, a local read-only web page over the runs folder (app.py: its pages
and JSON endpoints; readers.py: what it reads, cached; pages.py: what each page shows; templates/ and
static/: its HTML, its script and the charting library, uPlot, vendored with its licence: no CDN)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["serve"]


def serve(
    runs_dir: Path, host: str = "127.0.0.1", port: int = 8000, ready: Callable[[str], None] | None = None
) -> None:
    """Serve the dashboard until Ctrl-C; `ready` is told its address once it listens (port 0: a free one)."""
    import socket

    import uvicorn

    from fashionlab.errors import InputError
    from fashionlab.ui.app import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another `port`") from None
    listener.listen(128)
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(create_app(runs_dir), log_level="warning", timeout_graceful_shutdown=1, lifespan="off")
    server = uvicorn.Server(config)
    if ready is not None:
        ready(f"http://{shown}:{bound}/")
    server.run(sockets=[listener])
