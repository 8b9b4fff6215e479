"""What a fetch produces: every URL ends as a FetchSuccess or a typed FetchFailure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .._formats.body import Body

__all__ = [
    "AttemptRecord",
    "FetchFailure",
    "FetchObserver",
    "FetchOutcome",
    "FetchRequest",
    "FetchSuccess",
]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One URL to fetch, with the context that travels with it into logs and the ledger."""

    url: str
    supplier_id: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    kind: str = ""
    format: str = ""
    key: str = ""  # the ledger key; defaults to the (redacted) URL
    context: Mapping[str, Any] = field(default_factory=dict)
    hedge: bool = True  # False: never sent twice at once (a feed marked ``hedge: false``)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of one request, for the retry history."""

    attempt: int
    outcome: str  # "ok" or an error kind such as "http_503" or "timeout"
    status: int | None
    elapsed: float
    wait_before_next: float = 0.0
    redirects: tuple[str, ...] = ()  # the redacted URLs this attempt was redirected to
    start: float = 0.0  # seconds from the request's start to this attempt's slot (waterfall)
    # A hedged attempt (hedging.py) has two records of the same ``attempt``: the first
    # request (``hedge`` False) and its hedge (True). ``won`` is None for an attempt that
    # was not hedged; else True on the record whose answer the attempt took (the other
    # was cancelled, outcome "lost", or had failed first).
    hedge: bool = False
    won: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attempt": self.attempt,
            "outcome": self.outcome,
            "status": self.status,
            "elapsed": round(self.elapsed, 6),
            "wait": round(self.wait_before_next, 6),
            "start": round(self.start, 6),
        }
        if self.redirects:  # kept in the ledger's retry history (redirects.py)
            out["redirects"] = list(self.redirects)
        if self.won is not None:  # a hedged attempt: which of its two requests won
            out["hedge"] = self.hedge
            out["won"] = self.won
        return out


@dataclass(frozen=True, slots=True)
class FetchSuccess:
    """A request that got its payload: the final response and what it took."""

    request: FetchRequest
    status: int
    headers: Mapping[str, str]
    body: Body
    attempts: int
    elapsed: float
    request_id: str
    started_at: dt.datetime
    history: tuple[AttemptRecord, ...] = ()
    ok: Literal[True] = True


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """A URL that did not yield a usable payload, and why."""

    request: FetchRequest
    error_kind: str  # timeout, connect, http_404, truncated, payload, cancelled ...
    message: str
    permanent: bool
    status: int | None
    attempts: int
    elapsed: float
    request_id: str
    started_at: dt.datetime
    history: tuple[AttemptRecord, ...] = ()
    ok: Literal[False] = False

    @property
    def url(self) -> str:
        return self.request.url


FetchOutcome = FetchSuccess | FetchFailure


class FetchObserver(Protocol):
    """Hooks the engine calls; telemetry implements them. All are synchronous and cheap."""

    def attempt_started(self, request: FetchRequest, request_id: str, attempt: int) -> None: ...

    def attempt_finished(
        self, request: FetchRequest, request_id: str, record: AttemptRecord
    ) -> None: ...

    def finished(self, outcome: FetchOutcome) -> None: ...
