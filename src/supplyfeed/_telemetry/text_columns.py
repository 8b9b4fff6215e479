"""Plain aligned columns, one line a row: the lists an operator copies ids from.

rich's tables wrap a long value over several lines, or squeeze narrow columns to nothing
when a no-wrap column is wide; a row that is one line with its request id whole is what
``trace`` needs. Here every column is as wide as its widest value; on a window too narrow
the ``flexible`` columns give up room, in the order given, down to a few characters each,
and are cut with an ellipsis. Off a terminal (``width=None``) nothing is cut.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["fit_lines"]

_MIN_FLEX = 8  # a cut column keeps this many characters


def fit_lines(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None,
    *,
    flexible: Sequence[int] = (),
    right: Sequence[int] = (),
) -> list[str]:
    """The header and one line per row, columns two spaces apart, no trailing spaces."""
    table = [list(head), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    if width is not None:
        _shrink(widths, width, flexible)
    lines = []
    for row in table:
        cells = [_cell(v, w, i in right) for i, (v, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _shrink(widths: list[int], width: int, flexible: Sequence[int]) -> None:
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    for i in flexible:
        if excess <= 0:
            return
        give = min(excess, max(widths[i] - _MIN_FLEX, 0))
        widths[i] -= give
        excess -= give


def _cell(value: str, w: int, right: bool) -> str:
    if len(value) > w:
        value = value[: w - 1] + "…"
    return value.rjust(w) if right else value.ljust(w)
