"""What the HTML report draws, computed from the ledger: one bar per attempt on a shared
time axis, lanes of bars per host, in-flight counts per host, outcome categories.

Each ledger row holds when its request started (``started_at``, wall clock) and its retry
history; each attempt there holds ``start``, the seconds from the request's start until it
got its slots, and ``elapsed`` on the wire. Rows written before attempts carried a start
are laid out one attempt after the other (their queue wait unknown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .._sink.base import DeadLetter, EndpointRecord, Outcome, RunRecord

__all__ = [
    "CATEGORIES",
    "Bar",
    "RunData",
    "attempt_bars",
    "by_host",
    "category",
    "in_flight",
    "stack_rows",
]

# Outcome categories, in legend order, with their colour (Okabe-Ito: colour-blind safe).
CATEGORIES: Mapping[str, str] = {
    "ok": "#009E73",
    "quarantined": "#CC79A7",
    "throttled": "#F0E442",
    "server": "#E69F00",
    "client": "#8C564B",
    "timeout": "#D55E00",
    "network": "#0072B2",
    "lost": "#CCCCCC",  # the request of a hedged pair whose answer was not taken
    "other": "#999999",
}


def category(outcome: str) -> str:
    """An attempt's outcome (``ok``, ``http_503``, ``read_timeout``...) as a colour class."""
    if outcome in ("ok", "quarantined", "lost"):
        return outcome
    if outcome in ("http_429", "circuit_open"):
        return "throttled"
    if outcome.startswith("http_5"):
        return "server"
    if outcome.startswith("http_"):
        return "client"
    if "timeout" in outcome:
        return "timeout"
    if outcome in (
        "connect",
        "connection",
        "tcp",
        "tls",
        "truncated",
        "disconnected",
        "protocol",
        "reset",
    ):
        return "network"
    return "other"


@dataclass(frozen=True, slots=True)
class RunData:
    """Everything one report shows: the run, its ledger rows and its dead letters."""

    run: RunRecord
    records: Sequence[EndpointRecord]
    dead_letters: Sequence[DeadLetter]

    @property
    def report(self) -> Mapping[str, Any]:
        report: Mapping[str, Any] = self.run.summary.get("report") or {}
        return report

    @property
    def limit_per_host(self) -> int | None:
        limit = self.report.get("limits", {}).get("limit_per_host")
        return int(limit) if limit else None


@dataclass(frozen=True, slots=True)
class Bar:
    """One attempt on the run's time axis (seconds from the run's first request)."""

    host: str
    supplier: str
    url: str
    request_id: str
    attempt: int
    outcome: str  # the attempt's, or "quarantined" for the fetch whose payload was refused
    status: int | None
    start: float
    end: float
    hedge: bool  # a hedge: the second request of an attempt, sent while the first hung
    won: bool | None  # of a hedged pair, whether its answer was taken; None: not hedged
    after: float | None  # when the attempt before it ended (a retry), else None

    @property
    def category(self) -> str:
        return category(self.outcome)

    @property
    def tip(self) -> str:
        status = f" HTTP {self.status}" if self.status is not None else ""
        pair = {None: "", True: ", won", False: ", lost"}[self.won]
        hedge = f" (hedge{pair})" if self.hedge else f" (hedged{pair})" if pair else ""
        return (
            f"{self.url}\nattempt {self.attempt}{hedge}: {self.outcome}{status}, "
            f"{self.end - self.start:.3f} s at +{self.start:.3f} s\nrequest {self.request_id}"
        )


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2].lower() or parts.scheme or "?"


def attempt_bars(records: Iterable[EndpointRecord]) -> list[Bar]:
    """Every attempt of every fetched row, ordered by start; t=0 is the first request."""
    fetched = [r for r in records if r.started_at is not None and r.retry_history]
    if not fetched:
        return []
    origin = min(_start(r) for r in fetched)
    bars = [bar for r in fetched for bar in _bars(r, _start(r) - origin)]
    bars.sort(key=lambda b: (b.start, b.end))
    return bars


def _start(r: EndpointRecord) -> dt.datetime:
    assert r.started_at is not None
    return r.started_at


def _bars(r: EndpointRecord, offset: dt.timedelta) -> list[Bar]:
    base = offset.total_seconds()
    history = r.retry_history
    out: list[Bar] = []
    cursor, previous_end = 0.0, None  # for rows without per-attempt starts
    for i, a in enumerate(history):
        start = float(a["start"]) if "start" in a else cursor
        elapsed = float(a.get("elapsed") or 0.0)
        outcome = str(a.get("outcome") or "other")
        last = i == len(history) - 1
        if last and outcome == "ok" and r.outcome is Outcome.QUARANTINED:
            outcome = "quarantined"
        hedge = bool(a.get("hedge"))
        out.append(
            Bar(
                host=host_of(r.endpoint.url),
                supplier=r.endpoint.supplier_id,
                url=r.endpoint.url,
                request_id=r.request_id or "",
                attempt=int(a.get("attempt") or i + 1),
                outcome=outcome,
                status=a.get("status"),
                start=base + start,
                end=base + start + elapsed,
                hedge=hedge,
                won=a.get("won"),
                after=None if hedge or previous_end is None else base + previous_end,
            )
        )
        cursor = start + elapsed + float(a.get("wait") or 0.0)
        if not hedge:
            previous_end = start + elapsed
    return out


def by_host(bars: Iterable[Bar]) -> dict[str, list[Bar]]:
    """Bars grouped per host (hosts sorted), each list still ordered by start."""
    out: dict[str, list[Bar]] = {}
    for b in bars:
        out.setdefault(b.host, []).append(b)
    return dict(sorted(out.items()))


def stack_rows(bars: Sequence[Bar]) -> list[int]:
    """A row for each bar (ordered by start) so that bars in one row never overlap: the
    first row free at its start. Concurrent requests to a host stack up, so the height of
    a lane shows how many were in flight."""
    ends: list[float] = []
    rows = []
    for b in bars:
        row = next((i for i, end in enumerate(ends) if end <= b.start), len(ends))
        if row == len(ends):
            ends.append(b.end)
        else:
            ends[row] = b.end
        rows.append(row)
    return rows


def in_flight(bars: Iterable[Bar]) -> list[tuple[float, int]]:
    """``(time, attempts in flight from then on)`` at every change, in time order (an
    attempt ending at the instant another starts is counted out first)."""
    events = sorted(
        [(b.start, 1) for b in bars] + [(b.end, -1) for b in bars], key=lambda e: (e[0], e[1])
    )
    steps: list[tuple[float, int]] = []
    current = 0
    for t, delta in events:
        current += delta
        if steps and steps[-1][0] == t:
            steps[-1] = (t, current)
        else:
            steps.append((t, current))
    return steps
