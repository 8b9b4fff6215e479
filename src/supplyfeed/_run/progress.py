"""What a run tells a progress display, and the model the CLI's display draws.

A run calls the listener's ``start`` with the work planned per feed kind, ``discovered``
when it finds more mid-run (the second and later pages of a paged feed), ``advance`` as
each endpoint commits, and the engine's fetch hooks (``attempt_started``,
``attempt_finished``, ``finished``) as requests go on and off the wire.

:class:`ProgressModel` turns those calls into a :class:`ProgressView`: done/total per
kind, what is in flight and retrying, the slowest request in flight, and an ETA that
counts the hanging requests. It takes a clock, so tests drive it without a terminal or
real time; its lock lets rich's refresh thread read it while the loop writes it.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from .._fetch.outcome import AttemptRecord, FetchObserver, FetchOutcome, FetchRequest
from .._sink.base import Outcome

__all__ = [
    "KindProgress",
    "NullProgress",
    "ProgressListener",
    "ProgressModel",
    "ProgressView",
    "Slowest",
    "watched_by",
]

Clock = Callable[[], float]
_OK: Final = (Outcome.LOADED, Outcome.UNCHANGED)
# An attempt in flight longer than this many times the median attempt counts as hanging:
# the ETA then waits for its timeout, not for the rate of the fast ones.
_STALL_FACTOR: Final = 3.0
_MIN_STALL: Final = 1.0  # seconds; also the threshold before any attempt has finished
_LATENCY_SAMPLE: Final = 256  # recent attempt latencies kept for the median


class ProgressListener(Protocol):
    def start(self, totals: Mapping[str, int]) -> None:
        """Called once with the number of endpoints to fetch per feed kind."""

    def discovered(self, kind: str, count: int) -> None:
        """``count`` more units of ``kind`` found mid-run (pages after the first)."""

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        """One endpoint of ``kind`` finished."""

    def attempt_started(self, request: FetchRequest, request_id: str, attempt: int) -> None:
        """An attempt got its slots and went on the wire."""

    def attempt_finished(
        self, request: FetchRequest, request_id: str, record: AttemptRecord
    ) -> None:
        """An attempt ended (a retry waits ``record.wait_before_next`` seconds after)."""

    def finished(self, outcome: FetchOutcome) -> None:
        """A request ended, after all its attempts."""

    def stop(self) -> None: ...


class NullProgress:
    def start(self, totals: Mapping[str, int]) -> None:
        pass

    def discovered(self, kind: str, count: int) -> None:
        pass

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        pass

    def attempt_started(self, request: FetchRequest, request_id: str, attempt: int) -> None:
        pass

    def attempt_finished(
        self, request: FetchRequest, request_id: str, record: AttemptRecord
    ) -> None:
        pass

    def finished(self, outcome: FetchOutcome) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(slots=True)
class KindProgress:
    """Progress of one feed kind: endpoints planned, done and failed, records."""

    total: int = 0
    done: int = 0
    records: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Slowest:
    """The request longest on the wire now."""

    url: str
    seconds: float  # on the wire so far
    attempt: int


@dataclass(frozen=True, slots=True)
class ProgressView:
    """One frame of the live progress: per kind, on the wire, retrying, ETA."""

    kinds: Mapping[str, KindProgress]
    in_flight: int
    retrying: int
    slowest: Slowest | None
    eta: float | None  # seconds; None until something finished to measure a rate
    elapsed: float

    @property
    def done(self) -> int:
        return sum(k.done for k in self.kinds.values())

    @property
    def total(self) -> int:
        return sum(k.total for k in self.kinds.values())


@dataclass(slots=True)
class _Wire:
    """A request on the wire: since when, and which attempt."""

    url: str
    started: float
    attempt: int


@dataclass(slots=True)
class _Retry:
    """An endpoint waiting to retry: until when, and whether it timed out."""

    until: float  # when the next attempt may start
    timed_out: bool  # the attempt before it hung to its timeout


@dataclass(slots=True)
class ProgressModel:
    """Counts per kind, requests on the wire and waiting to retry, and the ETA."""

    timeout: float = 30.0  # one attempt's limit (``timeout_seconds``)
    clock: Clock = time.monotonic
    _kinds: dict[str, KindProgress] = field(default_factory=dict)
    _wire: dict[str, _Wire] = field(default_factory=dict)
    _retry: dict[str, _Retry] = field(default_factory=dict)
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_SAMPLE))
    _started: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, totals: Mapping[str, int]) -> None:
        with self._lock:
            self._started = self.clock()
            for kind, total in totals.items():
                self._kinds.setdefault(kind, KindProgress()).total += total

    def discovered(self, kind: str, count: int) -> None:
        with self._lock:
            self._kinds.setdefault(kind, KindProgress()).total += count

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        with self._lock:
            k = self._kinds.setdefault(kind, KindProgress())
            k.done += 1
            k.total = max(k.total, k.done)  # never "207/194", whatever was missed
            k.records += records
            k.failed += outcome not in _OK

    def attempt_started(self, request: FetchRequest, request_id: str, attempt: int) -> None:
        with self._lock:
            self._retry.pop(request_id, None)
            self._wire[request_id] = _Wire(request.url, self.clock(), attempt)

    def attempt_finished(
        self, request: FetchRequest, request_id: str, record: AttemptRecord
    ) -> None:
        with self._lock:
            self._wire.pop(request_id, None)
            if record.outcome != "timeout":
                self._latencies.append(record.elapsed)  # the last _LATENCY_SAMPLE
            if record.wait_before_next > 0:
                until = self.clock() + record.wait_before_next
                self._retry[request_id] = _Retry(until, record.outcome == "timeout")

    def finished(self, outcome: FetchOutcome) -> None:
        with self._lock:
            self._wire.pop(outcome.request_id, None)
            self._retry.pop(outcome.request_id, None)

    def stop(self) -> None:
        pass

    def view(self) -> ProgressView:
        with self._lock:
            now = self.clock()
            kinds = {
                k: KindProgress(v.total, v.done, v.records, v.failed)
                for k, v in self._kinds.items()
            }
            oldest = min(self._wire.values(), key=lambda w: w.started, default=None)
            slowest = Slowest(oldest.url, now - oldest.started, oldest.attempt) if oldest else None
            elapsed = now - self._started if self._started is not None else 0.0
            return ProgressView(
                kinds, len(self._wire), len(self._retry), slowest, self._eta(now, kinds), elapsed
            )

    def _eta(self, now: float, kinds: Mapping[str, KindProgress]) -> float | None:
        """The larger of: the rest at the rate so far, and the time the hanging requests
        in flight (or waiting to retry) can still take."""
        done = sum(k.done for k in kinds.values())
        left = sum(k.total for k in kinds.values()) - done
        if left <= 0:
            return 0.0
        if not done or self._started is None:
            return None
        by_rate = (now - self._started) / done * left
        return max(by_rate, self._waiting_on(now))

    def _waiting_on(self, now: float) -> float:
        typical = statistics.median(self._latencies) if self._latencies else 0.0
        stall = max(_MIN_STALL, _STALL_FACTOR * typical)
        bound = 0.0
        for w in self._wire.values():
            if now - w.started > stall:  # hanging: it ends at its timeout at the latest
                bound = max(bound, w.started + self.timeout - now)
        for r in self._retry.values():
            bound = max(bound, r.until - now + (self.timeout if r.timed_out else typical))
        return bound


class _Both:
    """The engine takes one observer: telemetry's, then the progress display's."""

    def __init__(self, first: FetchObserver, second: FetchObserver) -> None:
        self._first, self._second = first, second

    def attempt_started(self, request: FetchRequest, request_id: str, attempt: int) -> None:
        self._first.attempt_started(request, request_id, attempt)
        self._second.attempt_started(request, request_id, attempt)

    def attempt_finished(
        self, request: FetchRequest, request_id: str, record: AttemptRecord
    ) -> None:
        self._first.attempt_finished(request, request_id, record)
        self._second.attempt_finished(request, request_id, record)

    def finished(self, outcome: FetchOutcome) -> None:
        self._first.finished(outcome)
        self._second.finished(outcome)


def watched_by(observer: FetchObserver | None, progress: ProgressListener) -> FetchObserver | None:
    """``observer`` with ``progress`` told of every request too (a :class:`NullProgress`
    is left out: no calls per request for nothing)."""
    if type(progress) is NullProgress:  # a subclass may listen: it is told
        return observer
    return progress if observer is None else _Both(observer, progress)
