"""Text from the data (run folder names, config strings, image file names) made safe where it is shown:
in a terminal no control character passes (ESC would let a folder name set the clipboard through OSC 52,
make links or clear the screen), in Markdown no HTML, in a CSV cell no formula (OWASP's CSV injection
rule). The one place these rules are written."""

from __future__ import annotations

import re

# C0 controls but tab, DEL, C1 controls, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r"}.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def visible(text: str, newlines: bool = False) -> str:
    """`text` with every control character written out as an escape (ESC -> \\x1b, newline -> \\n; with
    `newlines`, a newline stays one: for text laid out in lines, such as what a console prints)."""
    return (_CONTROL_BUT_NEWLINE if newlines else _CONTROL).sub(_escape, text)


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def markdown_text(text: str) -> str:
    """`text` for a Markdown file: visible, HTML's <, > and & as entities (shown as written, never run)."""
    return visible(text).translate(_HTML)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell for a CSV file a spreadsheet may open: text starting with = + - @ (or a tab or CR) gets a
    leading apostrophe, so it is shown as text and never computed; numbers (-0.5 too) stay numbers."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START) or value in ("-", "+"):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value
