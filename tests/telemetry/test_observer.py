"""The observer's per-request bookkeeping: queue wait around retries, metrics, log context."""

from __future__ import annotations

import contextvars
import datetime as dt

import pytest

from supplyfeed._fetch.outcome import AttemptRecord, FetchRequest, FetchSuccess
from supplyfeed._formats.body import Body
from supplyfeed._telemetry import logging as sflog
from supplyfeed._telemetry.metrics import Metrics
from supplyfeed._telemetry.observer import TelemetryObserver

from ..virtual_time import VirtualClock

URL = "http://user@Example.COM:8080/feeds/inv.json?page=1"
WALL = 1_798_761_600.0  # 2027-01-01 00:00 UTC: the observer's clock is the wall clock


def _retried_request(
    observer: TelemetryObserver, clock: VirtualClock, late: float
) -> dict[str, object]:
    """Attempt 1 fails with 0.05 s of backoff; attempt 2 starts ``late`` seconds after the
    backoff ends and succeeds (on ``clock``, the observer's). Returns the log fields bound
    during attempt 2."""
    request = FetchRequest(url=URL, supplier_id="acme", kind="inventory")
    started_at = dt.datetime.fromtimestamp(clock(), dt.UTC)
    observer.attempt_started(request, "rid-1", 1)
    observer.attempt_finished(request, "rid-1", AttemptRecord(1, "http_503", 503, 0.01, 0.05))
    clock.advance(0.05 + late)
    observer.attempt_started(request, "rid-1", 2)
    fields = sflog.current_fields()
    observer.attempt_finished(request, "rid-1", AttemptRecord(2, "ok", 200, 0.02))
    body = Body.from_bytes(b"[]")
    outcome = FetchSuccess(
        request=request, status=200, headers={}, body=body, attempts=2, elapsed=0.1,
        request_id="rid-1", started_at=started_at,
    )  # fmt: skip
    observer.finished(outcome)
    return fields


def test_backoff_is_not_queue_wait_but_a_late_retry_is() -> None:
    """wait(n) = start(n) - (end(n-1) + backoff(n-1)): sleeping out the backoff is not
    waiting for a slot; starting 0.1 s after it ended is (on virtual wall-clock time)."""
    metrics = Metrics()
    clock = VirtualClock(start=WALL)
    observer = TelemetryObserver(metrics, clock=clock)
    contextvars.copy_context().run(_retried_request, observer, clock, 0.0)
    usage = observer.hosts["example.com:8080"]
    assert usage.attempts == 2
    assert usage.in_use == 0
    assert usage.peak_in_use == 1
    assert usage.queue_wait_seconds == pytest.approx(0.0, abs=1e-6)
    assert abs(usage.wire_seconds - 0.03) < 1e-9

    clock = VirtualClock(start=WALL)
    late = TelemetryObserver(Metrics(), clock=clock)
    contextvars.copy_context().run(_retried_request, late, clock, 0.1)
    usage = late.hosts["example.com:8080"]
    assert usage.queue_wait_seconds == pytest.approx(0.1, abs=1e-6)
    assert usage.max_queue_wait == pytest.approx(0.1, abs=1e-6)  # the retry's own wait

    assert metrics.retries.values == {"http_503": 1}
    assert metrics.requests.values == {"http_503": 1, "ok": 1}
    assert sum(metrics.latency["example.com:8080"].counts) == 2
    assert metrics.bytes.values == {"acme": 2}
    assert observer.finished_count == 1
    assert observer.in_use == 0


def test_the_attempt_binds_its_request_to_the_log_context() -> None:
    """Bound in the request's own context, as the fields of a line written there."""
    clock = VirtualClock(start=WALL)
    observer = TelemetryObserver(clock=clock)
    token = sflog.bind(run_id="run-1")
    try:
        fields = contextvars.copy_context().run(_retried_request, observer, clock, 0.0)
    finally:
        sflog.unbind(token)
    assert fields == {
        "run_id": "run-1",
        "supplier": "acme",
        "kind": "inventory",
        "url": URL,
        "request_id": "rid-1",
        "attempt": 2,
    }
    assert "request_id" not in sflog.current_fields()  # nothing leaked into this context
