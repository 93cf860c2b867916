"""Tables that fit the terminal without cutting a value: columns have a priority, and those that do not
fit are left out whole (the caller names them in a footer) instead of Rich ellipsizing every cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

Justify = Literal["left", "right", "center"]
Cell = str | Text


@dataclass
class Col:
    """One column: its key (for --columns and footers), header, priority (lower stays longer)."""

    key: str
    header: str
    priority: float = 0.0
    justify: Justify = "right"
    style: str | None = None
    cells: Sequence[Cell] = field(default_factory=list)
    max_width: int | None = None  # longer cells wrap onto more lines (by words, never cut)

    @property
    def width(self) -> int:
        return min(self.natural, self.max_width) if self.max_width else self.natural

    @property
    def natural(self) -> int:
        """Its width unwrapped (plain text never wraps a cell)."""
        texts = [*self.header.split("\n"), *(c.plain if isinstance(c, Text) else c for c in self.cells)]
        return max(cell_len(t) for t in texts)


GAP = 3  # between columns: a space of padding each side and the (blank) divider of box.SIMPLE_HEAD


def table_width(cols: Sequence[Col], wraps: bool = True) -> int:
    return sum(c.width if wraps else c.natural for c in cols) + GAP * (len(cols) - 1)


def build(cols: Sequence[Col], title: str | None = None, row_styles: Sequence[str | None] = ()) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in cols:
        wraps = col.max_width is not None and col.width == col.max_width
        table.add_column(
            col.header, justify=col.justify, style=col.style, no_wrap=not wraps, overflow="fold",
            width=col.width if wraps else None,
        )  # fmt: skip
    rows = max((len(c.cells) for c in cols), default=0)
    for i in range(rows):
        style = row_styles[i] if i < len(row_styles) else None
        table.add_row(*(c.cells[i] for c in cols), style=style)
    return table


def fit(
    cols: Sequence[Col], width: int | None, title: str | None = None, row_styles: Sequence[str | None] = ()
) -> tuple[Table, list[Col]]:
    """The table with as many columns as fit in `width` (None: all), and the columns left out.

    Columns leave in order of priority, highest number first; the first column always stays.
    """
    keep = choose(cols, width)
    return build(keep, title, row_styles), [c for c in cols if c not in keep]


def choose(cols: Sequence[Col], width: int | None, wraps: bool = True) -> list[Col]:
    """The columns that fit in `width`, dropping the highest priority number first (never the first);
    `wraps=False`: at their unwrapped widths (for `plain`)."""
    keep = list(cols)
    while width is not None and len(keep) > 1 and table_width(keep, wraps) > width:
        keep.remove(max(keep[1:], key=lambda c: c.priority))
    return keep


def names(cols: Sequence[Col], most: int = 4) -> str:
    """`a, b, c, d and 3 more`: the columns a footer lists."""
    shown = [c.header.replace("-\n", "").replace("\n", "_").replace(" ", "_") for c in cols]
    from fashionlab.i18n import _

    more = _(" and {n} more").format(n=len(shown) - most) if len(shown) > most else ""
    return ", ".join(shown[:most]) + more


def plain(cols: Sequence[Col], title: str | None = None) -> str:
    """The same columns as fixed-width text: fast for long listings (Rich tables cost ~0.5 ms a row)."""
    widths = [c.natural for c in cols]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(w) if col.justify == "right" else cell.ljust(w)
            for cell, w, col in zip(cells, widths, cols, strict=True)
        ]
        return (" " * GAP).join(parts).rstrip()

    heads = [c.header.split("\n") for c in cols]
    depth = max(len(h) for h in heads)
    header_lines = [line([(["", *h] if len(h) < depth else h)[i] for h in heads]) for i in range(depth)]
    rows = max((len(c.cells) for c in cols), default=0)
    body = [line([_plain(c.cells[i]) for c in cols]) for i in range(rows)]
    rule = (" " * GAP).join("-" * w for w in widths)
    return "\n".join([*([title] if title else []), *header_lines, rule, *body])


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell
