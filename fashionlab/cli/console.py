"""The two consoles (results on stdout, the rest on stderr), which show no control character from the
data, and the one way a command writes a picture the user named."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console, RenderHook

PIPE_WIDTH = 220  # tables piped to a file or another program are not squeezed to 80 columns
MIN_WIDTH = 40  # COLUMNS=0 once printed nothing at all; a narrower terminal wraps what is printed at 40
_columns = os.environ.get("COLUMNS", "")
if _columns and (not _columns.isdigit() or int(_columns) < MIN_WIDTH):
    os.environ["COLUMNS"] = str(MIN_WIDTH) if _columns.isdigit() else ""
    if not _columns.isdigit():
        del os.environ["COLUMNS"]  # not a number: as if unset


class Visible:
    """A renderable whose text reaches the terminal without control characters: a run folder, a config
    string or an image file name holding ESC cannot set the clipboard (OSC 52), make links or clear the
    screen. Rich's own colours are control segments of their own and pass."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: Any) -> Any:
        from rich.segment import Segment

        from fashionlab.text import visible

        for segment in console.render(self.inner, options):
            yield segment if segment.control else Segment(visible(segment.text, newlines=True), segment.style)


class ShowVisible(RenderHook):
    def process_renderables(self, renderables: list[Any]) -> list[Any]:
        return [Visible(r) for r in renderables]


out = Console(highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH)
err = Console(stderr=True, highlight=False)
for _console in (out, err):
    _console.push_render_hook(ShowVisible())


def check_png(path: Path | None, force: bool = False) -> None:
    """Refuse a picture's path (if one is given) before the work that makes the picture (the safe writer's rules)."""
    from fashionlab.store.output import check_target

    if path is not None:
        check_target(path, (".png",), "pictures", force)


def write_png(path: Path, data: bytes, force: bool = False) -> None:
    """A picture to the user's path, through the one safe writer (store/output.py)."""
    from fashionlab.store.output import shown_path, write_output

    write_output(path, data, (".png",), "pictures", force)
    from fashionlab.i18n import _

    err.print(_("Saved {path}").format(path=shown_path(path)), markup=False)
