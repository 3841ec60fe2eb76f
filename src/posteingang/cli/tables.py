"""The boxed tables of the list commands (`user list`, `domain list`, `device list`, ...).

Drawn here in the shape `rich` draws them (heavy header, light body), so that
the account commands start without importing rich (~30 ms of the 150 ms budget
for `posteingang user list`, bench/bench_cli.py). Cells are never wrapped or
cut: standard output may be captured by scripts, which want whole values.
Width counts terminal cells (East Asian wide characters take two).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

import click

__all__ = ["Table", "print_table", "render_table"]


def _cells(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in text
    )


def render_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], title: str | None = None
) -> str:
    """The table as lines of text (each ending in a newline)."""
    body = [list(row) for row in rows]
    widths = [_cells(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _cells(cell))

    def line(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right + "\n"

    def cells(values: Sequence[str], bar: str) -> str:
        padded = (f" {v}{' ' * (w - _cells(v))} " for v, w in zip(values, widths, strict=True))
        return bar + bar.join(padded) + bar + "\n"

    out = []
    if title is not None:
        total = sum(w + 3 for w in widths) + 1
        out.append(title.center(total) + "\n")
    out.append(line("┏", "━", "┳", "┓"))
    out.append(cells(headers, "┃"))
    out.append(line("┡", "━", "╇", "┩"))
    out += [cells(row, "│") for row in body]
    out.append(line("└", "─", "┴", "┘"))
    return "".join(out)


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], title: str | None = None
) -> None:
    """Print the table on standard output."""
    click.echo(render_table(headers, rows, title), nl=False)


class Table:
    """Rows collected for `print_table` (the list commands build them row by row)."""

    def __init__(self, *headers: str, title: str | None = None) -> None:
        self.headers = headers
        self.title = title
        self.rows: list[tuple[str, ...]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def print(self) -> None:
        print_table(self.headers, self.rows, self.title)
