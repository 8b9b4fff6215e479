"""Aligned one-line rows: fixed columns are never cut, flexible ones give room in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from supplyfeed._telemetry.text_columns import fit_lines

_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@given(st.lists(st.tuples(_TEXT, _TEXT, _TEXT), min_size=1, max_size=8), st.integers(30, 200))
def test_fixed_columns_stay_whole_and_lines_fit(
    rows: list[tuple[str, str, str]], width: int
) -> None:
    """Column 0 (an id) is never cut; when the flexible columns can give enough room
    every line fits the width; a row is always exactly one line."""
    lines = fit_lines(("id", "url", "message"), rows, width, flexible=(2, 1))
    assert len(lines) == len(rows) + 1
    for row, line in zip(rows, lines[1:], strict=True):
        assert line.startswith(row[0])
        assert "\n" not in line
    fixed = max(len(r[0]) for r in [("id",), *rows])
    if fixed + 2 * 8 + 4 <= width:
        assert max(len(line) for line in lines) <= width


def test_off_a_terminal_nothing_is_cut() -> None:
    long = "http://127.0.0.1/" + "x" * 300
    [_head, line] = fit_lines(("id", "url"), [("1", long)], None, flexible=(1,))
    assert line.endswith(long)
    assert line == line.rstrip()
