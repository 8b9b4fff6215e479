"""The engine's :class:`~supplyfeed._fetch.outcome.FetchObserver`, for telemetry.

It sees every attempt begin (holding its slots) and end, and every request finish, and
from that keeps, per host: connections in use now and at peak, time on the wire, and
time spent waiting for a slot (queue wait). The engine records when a request began
(``started_at``) and each attempt's duration and backoff; the observer records when each
attempt actually got its slots. Their difference is the queue wait:

    wait(1) = start(1) - started_at
    wait(n) = start(n) - (end(n-1) + backoff(n-1))

Every hook is synchronous and runs on the hot path, so each does a dict lookup or two
and a few attribute increments, nothing more: no clock read an attempt does not need, no
per-attempt lists, the request bound to the log context as one tuple, and the metrics
updated in place (the host's latency histogram hangs on its :class:`HostUsage`). Log
lines are built only when a level is enabled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._fetch.outcome import AttemptRecord, FetchOutcome, FetchRequest, FetchSuccess
from . import logging as sflog
from .metrics import Histogram, Metrics

__all__ = ["HostUsage", "TelemetryObserver"]

log = logging.getLogger("supplyfeed.fetch")


@dataclass(slots=True)
class HostUsage:
    """Slot usage of one host (``host:port``), as the engine's limiter hands slots out."""

    in_use: int = 0
    peak_in_use: int = 0
    attempts: int = 0
    wire_seconds: float = 0.0
    queue_wait_seconds: float = 0.0
    max_queue_wait: float = 0.0
    latency: Histogram | None = field(default=None, repr=False, compare=False)  # metrics

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_in_use": self.peak_in_use,
            "attempts": self.attempts,
            "wire_seconds": round(self.wire_seconds, 4),
            "queue_wait_seconds": round(self.queue_wait_seconds, 4),
            "max_queue_wait_seconds": round(self.max_queue_wait, 4),
        }

    def waited(self, seconds: float) -> None:
        if seconds > 0.0:
            self.queue_wait_seconds += seconds
            if seconds > self.max_queue_wait:
                self.max_queue_wait = seconds


class _Pending:
    """A request between its first attempt and its outcome."""

    __slots__ = ("first_start", "last_outcome", "ready", "usage")

    def __init__(self, usage: HostUsage, first_start: float) -> None:
        self.usage = usage
        self.first_start = first_start  # wait(1) needs started_at: settled in finished()
        self.ready = 0.0  # when the next attempt could start (end + backoff)
        self.last_outcome = ""


class TelemetryObserver:
    """``clock`` is the wall clock in seconds (``time.time``); tests pass a virtual one."""

    def __init__(
        self, metrics: Metrics | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.metrics = metrics
        self._clock = clock
        self.hosts: dict[str, HostUsage] = {}
        self.in_use = 0
        self.peak_in_use = 0
        self.finished_count = 0
        self.bytes = 0
        self._pending: dict[str, _Pending] = {}

    @staticmethod
    def _host(url: str) -> str:
        """``host[:port]`` as written in the URL, the way yarl's ``host_port_subcomponent``
        (the pool tracer's label) writes it. A string split, not ``urlsplit``: this runs
        once per request and urlsplit was the observer's largest cost."""
        netloc = url.split("/", 3)[2] if "//" in url else url
        return netloc.rpartition("@")[2].lower()

    def _usage(self, url: str) -> HostUsage:
        host = self._host(url)
        usage = self.hosts.get(host)
        if usage is None:
            latency = self.metrics.latency_for(host) if self.metrics is not None else None
            usage = self.hosts[host] = HostUsage(latency=latency)
        return usage

    def attempt_started(self, request: FetchRequest, request_id: str, attempt: int) -> None:
        now = self._clock()
        p = self._pending.get(request_id)
        if p is None:
            usage = self._usage(request.url)
            self._pending[request_id] = _Pending(usage, now)
        else:  # a retry: it waited from its end plus backoff until now
            usage = p.usage
            usage.waited(now - p.ready)
            if self.metrics is not None:
                self.metrics.retries.inc(p.last_outcome)
        usage.in_use += 1
        if usage.in_use > usage.peak_in_use:
            usage.peak_in_use = usage.in_use
        self.in_use += 1
        if self.in_use > self.peak_in_use:
            self.peak_in_use = self.in_use
        # This runs inside the request's own task: its log lines carry these fields.
        sflog.bind_request(request, request_id, attempt)

    def attempt_finished(
        self, request: FetchRequest, request_id: str, record: AttemptRecord
    ) -> None:
        p = self._pending.get(request_id)
        if p is None:  # an attempt that never held a slot (e.g. a circuit breaker)
            return
        usage = p.usage
        usage.in_use -= 1
        usage.attempts += 1
        usage.wire_seconds += record.elapsed
        self.in_use -= 1
        if self.metrics is not None:
            self.metrics.requests.inc(record.outcome)
            if usage.latency is not None:
                usage.latency.observe(record.elapsed)
        if record.outcome != "ok":  # another attempt may follow
            p.ready = self._clock() + record.wait_before_next
            p.last_outcome = record.outcome
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "attempt %d failed: %s (status %s) after %.3f s",
                    record.attempt, record.outcome, record.status, record.elapsed,
                    extra={"sf": sflog.request_fields("attempt_failed", record.status, None,
                                                      record.elapsed, record.outcome)},
                )  # fmt: skip

    def finished(self, outcome: FetchOutcome) -> None:
        self.finished_count += 1
        p = self._pending.pop(outcome.request_id, None)
        if p is None:  # never held a slot: bind what its log line needs here
            sflog.bind_request(outcome.request, outcome.request_id, outcome.attempts)
        else:
            p.usage.waited(p.first_start - outcome.started_at.timestamp())
        if isinstance(outcome, FetchSuccess):
            size = outcome.body.size
            self.bytes += size
            if self.metrics is not None:
                self.metrics.bytes.inc(outcome.request.supplier_id, size)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "fetched: status %d, %d bytes, %d attempt(s), %.3f s",
                    outcome.status, size, outcome.attempts, outcome.elapsed,
                    extra={"sf": sflog.request_fields("fetched", outcome.status, size,
                                                      outcome.elapsed, None)},
                )  # fmt: skip
        elif outcome.error_kind != "cancelled":
            log.warning(
                "fetch failed: %s: %s (%d attempt(s), %s)",
                outcome.error_kind, outcome.message.partition("\n")[0], outcome.attempts,
                "permanent" if outcome.permanent else "transient",
                extra={"sf": sflog.request_fields("fetch_failed", outcome.status, None,
                                                  outcome.elapsed, outcome.error_kind)},
            )  # fmt: skip
