"""The HTML report's layout from ledger rows: bars on one time axis, lanes, in flight."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supplyfeed._cli.report_html import html_report_command
from supplyfeed._models import DocKind
from supplyfeed._sink.base import Endpoint, EndpointRecord, Outcome
from supplyfeed._sink.factory import DEFAULT_SINK_URL
from supplyfeed._telemetry.html_data import Bar, attempt_bars, category, in_flight, stack_rows
from supplyfeed._telemetry.svg import nice_ticks

_T0 = dt.datetime(2026, 5, 9, 13, 0, tzinfo=dt.UTC)


def _row(
    url: str, history: list[dict[str, Any]], *, at: float = 0.0, outcome: Outcome = Outcome.LOADED
) -> EndpointRecord:
    ep = Endpoint(url, "S1", DocKind.PO_ACK, "json", url)
    start = _T0 + dt.timedelta(seconds=at)
    return EndpointRecord(ep, outcome, attempts=len(history), request_id=f"r-{url[-1]}",
                          started_at=start, retry_history=history)  # fmt: skip


def _attempt(
    n: int, outcome: str, elapsed: float, wait: float = 0.0, **more: Any
) -> dict[str, Any]:
    return {"attempt": n, "outcome": outcome, "status": None, "elapsed": elapsed, "wait": wait,
            **more}  # fmt: skip


def test_attempts_are_placed_by_their_recorded_start_on_the_run_axis() -> None:
    """t=0 is the first request; a retry starts where the ledger says (after its backoff
    and any wait for a slot) and is joined to the end of the attempt before it."""
    first = _row("http://a:1/x", [_attempt(1, "http_503", 0.1, 0.2, start=0.0),
                                   _attempt(2, "ok", 0.3, start=0.5)], at=1.0)  # fmt: skip
    second = _row("http://b:2/y", [_attempt(1, "ok", 0.2, start=0.05)], at=0.5)
    bars = attempt_bars([first, second])
    assert [(b.host, b.attempt) for b in bars] == [("b:2", 1), ("a:1", 1), ("a:1", 2)]
    assert [(b.start, b.end) for b in bars] == [
        pytest.approx((0.05, 0.25)), pytest.approx((0.5, 0.6)), pytest.approx((1.0, 1.3)),
    ]  # fmt: skip
    assert [b.after for b in bars] == [None, None, pytest.approx(0.6)]
    assert [b.category for b in bars] == ["ok", "server", "ok"]


def test_rows_without_attempt_starts_are_laid_out_one_after_another() -> None:
    """Ledger rows from before attempts carried a start: each attempt follows the one
    before it plus its backoff."""
    row = _row("http://a:1/x", [_attempt(1, "timeout", 1.0, 0.5), _attempt(2, "ok", 0.25)])
    assert [(b.start, b.end, b.after) for b in attempt_bars([row])] == [
        (0.0, 1.0, None),
        (1.5, 1.75, 1.0),
    ]


def test_a_hedge_is_not_a_retry_and_a_refused_payload_is_quarantined() -> None:
    """The hedge of an attempt overlaps its first request and is not joined to it; the
    fetch whose payload became a dead letter is drawn as quarantined."""
    history = [_attempt(1, "lost", 0.9, start=0.0, hedge=False, won=False),
               _attempt(1, "ok", 0.2, start=0.4, hedge=True, won=True)]  # fmt: skip
    bars = attempt_bars([_row("http://a:1/x", history, outcome=Outcome.QUARANTINED)])
    assert [(b.hedge, b.won, b.after, b.category) for b in bars] == [
        (False, False, None, "lost"),
        (True, True, None, "quarantined"),
    ]
    assert "(hedge, won)" in bars[1].tip


def test_unfetched_rows_draw_nothing() -> None:
    pending = EndpointRecord(Endpoint("k", "S1", DocKind.PO_ACK, "json", "http://a/x"),
                             Outcome.PENDING)  # fmt: skip
    assert attempt_bars([pending]) == []


def test_categories_of_attempt_outcomes() -> None:
    cases = {"ok": "ok", "http_503": "server", "http_429": "throttled", "http_404": "client",
             "read_timeout": "timeout", "connect": "network", "truncated": "network",
             "cancelled": "other"}  # fmt: skip
    assert {k: category(k) for k in cases} == cases


def _bar(start: float, end: float) -> Bar:
    return Bar("h", "S1", "u", "r", 1, "ok", 200, start, end, False, None, None)


_intervals = st.lists(
    # (an attempt of no duration, such as a refused circuit, holds no slot: not drawn here)
    st.tuples(st.floats(0, 100), st.floats(0.001, 10)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=40,
)


@given(_intervals)
def test_stacked_rows_never_overlap_and_in_flight_matches_them(
    spans: list[tuple[float, float]],
) -> None:
    """Bars in one row never overlap; the rows used never exceed the peak in flight; the
    in-flight steps end at zero and never go below it."""
    bars = sorted((_bar(a, b) for a, b in spans), key=lambda b: (b.start, b.end))
    rows = stack_rows(bars)
    for row in set(rows):
        mine = [b for b, r in zip(bars, rows, strict=True) if r == row]
        assert all(x.end <= y.start for x, y in itertools.pairwise(mine))
    steps = in_flight(bars)
    peak = max((n for _, n in steps), default=0)
    assert len(set(rows)) == peak
    assert all(n >= 0 for _, n in steps)
    assert not steps or steps[-1][1] == 0


def test_in_flight_counts_an_attempt_ending_as_another_starts_once() -> None:
    assert in_flight([_bar(0, 1), _bar(1, 2), _bar(0.5, 1.5)]) == [
        (0, 1), (0.5, 2), (1, 2), (1.5, 1), (2, 0),
    ]  # fmt: skip


def test_nice_ticks_are_round_and_cover_the_span() -> None:
    assert nice_ticks(1.53, 8) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6])
    assert nice_ticks(900, 5) == [0, 200, 400, 600, 800, 1000]
    assert nice_ticks(0.0) == [0.0, 1.0]


def test_the_summary_names_the_database_the_report_command_needs() -> None:
    """The run summary's command finds the run's database: through its feeds file, or
    by a --db the run was given (secrets redacted, shell-quoted), or the default."""
    cmd = html_report_command
    assert cmd("R1", "/srv/feeds dir/f.yaml", "sqlite:///x.db") == (
        "supplyfeed report R1 --feeds '/srv/feeds dir/f.yaml' --html run-R1.html"
    )
    assert cmd("R1", "", "postgresql://u:pw@127.0.0.1/db") == (
        "supplyfeed report R1 --db postgresql://u:REDACTED@127.0.0.1/db --html run-R1.html"
    )
    assert cmd("R1", "demo", DEFAULT_SINK_URL) == "supplyfeed report R1 --html run-R1.html"
