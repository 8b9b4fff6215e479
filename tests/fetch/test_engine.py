"""The fetch engine's rules, pinned against the in-process supplier simulator."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import psutil
import pytest

from supplyfeed import (
    AsyncBatchIngestor,
    FeedConfig,
    FetchFailure,
    FetchRequest,
    Limits,
    MockTransport,
    Retry,
    Timeouts,
)
from supplyfeed._fetch.outcome import FetchOutcome
from supplyfeed._fetch.transport import TransportRequest, TransportResponse
from supplyfeed._formats.body import Body
from supplyfeed.sim import Fault, LatencyModel, SupplierFleet

from ..virtual_time import VirtualClock
from .conftest import fleet_spec
from .virtual_time import run_virtual

QUICK_RETRY = Retry(backoff_initial=0.05, backoff_max=0.2, seed=5)


def quick(**changes: Any) -> FeedConfig:
    """Short backoffs so retry tests stay fast."""
    return FeedConfig(retry=QUICK_RETRY).replace(**changes)


async def test_every_url_is_accounted_for_with_typed_reasons() -> None:
    """Each URL ends as a payload or a typed failure the caller reads after the call."""
    faults = {1: Fault.not_found(), 2: Fault.malformed(), 3: Fault.fail_then_ok(503, times=1)}
    async with SupplierFleet(fleet_spec(8, faults=faults)) as fleet:
        urls = fleet.urls
        async with AsyncBatchIngestor(quick()) as ingestor:
            docs = await ingestor.fetch_feed_batch(urls)
    batch = ingestor.last_batch
    assert batch.total == len(urls)
    assert len(docs) == 6
    by_url = {f.url: f for f in ingestor.failures}
    assert set(by_url) == {urls[1], urls[2]}
    assert (by_url[urls[1]].error_kind, by_url[urls[1]].status) == ("http_404", 404)
    assert by_url[urls[1]].permanent
    assert by_url[urls[2]].error_kind == "payload"
    recovered = next(s for s in batch.succeeded if s.request.url == urls[3])
    assert recovered.attempts == 2
    assert [a.outcome for a in recovered.history] == ["http_503", "ok"]


async def test_404_is_never_retried() -> None:
    """A permanent 4xx costs exactly one request."""
    async with SupplierFleet(fleet_spec(2, faults={0: Fault.not_found()})) as fleet:
        async with AsyncBatchIngestor(quick(retry_attempts=5)) as ingestor:
            await ingestor.fetch_feed_batch(fleet.urls)
        assert fleet.stats.endpoints[fleet.urls[0]].requests == 1
    assert ingestor.failures[0].attempts == 1


@pytest.mark.parametrize(
    "fault",
    [Fault.fail_then_ok(503, times=2), Fault.reset(times=2), Fault.truncate(times=2)],
    ids=["503", "reset", "truncate"],
)
async def test_transient_failures_are_retried_until_success(fault: Fault) -> None:
    """5xx, connection resets and truncated bodies are retried.

    aiohttp itself re-sends an idempotent request once when a *reused* keep-alive
    connection is reset (aiohttp#9138's race), so a reset may cost the engine one attempt
    fewer than the server counts; the server's count is exact either way.
    """
    async with SupplierFleet(fleet_spec(1, faults={0: fault})) as fleet:
        async with AsyncBatchIngestor(quick(retry_attempts=3)) as ingestor:
            docs = await ingestor.fetch_feed_batch(fleet.urls)
        assert fleet.stats.endpoints[fleet.urls[0]].requests == 3
    assert len(docs) == 1
    assert ingestor.last_batch.succeeded[0].attempts in ((2, 3) if fault.kind == "reset" else (3,))


async def test_exhausted_retries_report_the_last_reason() -> None:
    """An endpoint that never recovers fails as transient with every attempt recorded."""
    async with SupplierFleet(fleet_spec(1, faults={0: Fault.fail_then_ok(502, None)})) as fleet:
        async with AsyncBatchIngestor(quick(retry_attempts=3)) as ingestor:
            await ingestor.fetch_feed_batch(fleet.urls)
    (failure,) = ingestor.failures
    assert (failure.error_kind, failure.status, failure.attempts) == ("http_502", 502, 3)
    assert not failure.permanent
    assert len(failure.history) == 3


@pytest.mark.parametrize("http_date", [False, True], ids=["seconds", "http-date"])
async def test_retry_after_is_waited_out(http_date: bool, clock: VirtualClock) -> None:
    """A 429 with Retry-After (seconds or HTTP-date) delays the retry by at least that
    (on virtual time: the engine's one sleep is the wait, and no real second passes)."""
    fault = Fault.retry_after(seconds=2.0, times=1, status=429, http_date=http_date)
    async with SupplierFleet(fleet_spec(1, faults={0: fault})) as fleet:
        async with AsyncBatchIngestor(quick(), sleep=clock.sleep) as ingestor:
            docs = await ingestor.fetch_feed_batch(fleet.urls)
        assert fleet.stats.endpoints[fleet.urls[0]].requests == 2
    assert len(docs) == 1
    (waited,) = clock.sleeps
    # An HTTP-date has one-second resolution, so it may land up to 1 s early.
    assert waited >= (1.0 if http_date else 2.0)
    assert ingestor.last_batch.succeeded[0].history[0].wait_before_next == waited


async def test_retry_after_is_capped(clock: VirtualClock) -> None:
    """Retry-After longer than retry_after_cap waits only the cap."""
    fault = Fault.retry_after(seconds=30.0, times=1, status=503)
    async with SupplierFleet(fleet_spec(1, faults={0: fault})) as fleet:
        cfg = quick(retry=dataclasses.replace(QUICK_RETRY, retry_after_cap=0.3))
        async with AsyncBatchIngestor(cfg, sleep=clock.sleep) as ingestor:
            docs = await ingestor.fetch_feed_batch(fleet.urls)
    assert len(docs) == 1
    assert clock.sleeps == [pytest.approx(0.3)]
    assert ingestor.last_batch.succeeded[0].history[0].wait_before_next == pytest.approx(0.3)


@pytest.mark.slow  # waits out a real 3 s timeout
async def test_no_head_of_line_blocking_behind_a_hanging_endpoint() -> None:
    """A hanging endpoint does not hold back the URLs listed after it (the guide's chunks do)."""
    async with SupplierFleet(fleet_spec(60, faults={0: Fault.hang()})) as fleet:
        finished: dict[str, float] = {}
        t0 = time.monotonic()

        async def handle(outcome: FetchOutcome) -> None:
            finished[outcome.request.url] = time.monotonic() - t0

        cfg = FeedConfig(batch_size=10, timeout_seconds=3.0, retry_attempts=1)
        async with AsyncBatchIngestor(cfg) as ingestor:
            await ingestor.fetch_each([FetchRequest(u) for u in fleet.urls], handle)
        others = [finished[u] for u in fleet.urls[1:]]
        assert max(others) < finished[fleet.urls[0]]  # none waited for the hang
        assert finished[fleet.urls[0]] >= 3.0


async def test_slot_is_released_while_sleeping_between_retries() -> None:
    """With one slot, other URLs complete while a failing URL sleeps before its retry."""
    spec = fleet_spec(5, hosts=1, faults={0: Fault.fail_then_ok(503, times=1)})
    async with SupplierFleet(spec) as fleet:
        order: list[str] = []

        async def handle(outcome: FetchOutcome) -> None:
            order.append(outcome.request.url)

        urls = fleet.urls
        cfg = FeedConfig(max_concurrency=1, retry=Retry(jitter=False, backoff_initial=0.5, seed=1))
        async with AsyncBatchIngestor(cfg) as ingestor:
            await ingestor.fetch_each([FetchRequest(u) for u in urls], handle)
    assert order[-1] == urls[0]
    assert sorted(order) == sorted(urls)


async def test_global_and_per_host_limits_are_never_exceeded() -> None:
    """Peak in-flight per port <= limit_per_host and overall <= max_concurrency."""
    slow = LatencyModel(median=0.03, sigma=0.3, max=0.1)
    async with SupplierFleet(fleet_spec(240, hosts=4, latency=slow)) as fleet:
        cfg = FeedConfig(max_concurrency=10, limits=Limits(per_host=4))
        async with AsyncBatchIngestor(cfg) as ingestor:
            docs = await ingestor.fetch_feed_batch(fleet.urls)
        peaks = [fleet.stats.peak_in_flight(p) for p in fleet.ports]
    assert len(docs) == 240
    assert max(peaks) == 4  # reached, never exceeded
    assert ingestor.limiter.peak_in_flight == 10


async def test_per_supplier_limit_holds() -> None:
    """A supplier's lower max_concurrency caps its requests across its hosts."""
    slow = LatencyModel(median=0.03, sigma=0.3, max=0.1)
    async with SupplierFleet(fleet_spec(60, hosts=3, latency=slow)) as fleet:
        reqs = [FetchRequest(u, supplier_id="ACME") for u in fleet.urls]
        done: list[FetchOutcome] = []

        async def handle(outcome: FetchOutcome) -> None:
            done.append(outcome)

        cfg = FeedConfig(max_concurrency=20, limits=Limits(per_host=10))
        async with AsyncBatchIngestor(cfg, supplier_limits={"ACME": 2}) as ingestor:
            await ingestor.fetch_each(reqs, handle)
        total_peak = sum(fleet.stats.peak_in_flight(p) for p in fleet.ports)
    assert len(done) == 60
    assert ingestor.limiter.peak_in_flight <= 2
    assert total_peak <= 6  # each port saw at most the supplier's 2


async def test_timeout_on_hang_is_transient_and_retried() -> None:
    """A hanging endpoint times out per attempt, is retried, then fails as 'timeout'."""
    async with SupplierFleet(fleet_spec(1, faults={0: Fault.hang()})) as fleet:
        cfg = quick(timeout_seconds=0.3, retry_attempts=2)
        async with AsyncBatchIngestor(cfg) as ingestor:
            await ingestor.fetch_feed_batch(fleet.urls)
        assert fleet.stats.endpoints[fleet.urls[0]].requests == 2
    (failure,) = ingestor.failures
    assert (failure.error_kind, failure.attempts, failure.permanent) == ("timeout", 2, False)


async def test_read_timeout_is_separate_from_the_total() -> None:
    """A drip slower than read_timeout fails as read_timeout before the total timeout."""
    fault = Fault.drip(bytes_per_chunk=16, delay=1.0)
    async with SupplierFleet(fleet_spec(1, faults={0: fault})) as fleet:
        cfg = FeedConfig(timeouts=Timeouts(read=0.2), timeout_seconds=20.0, retry_attempts=1)
        async with AsyncBatchIngestor(cfg) as ingestor:
            await ingestor.fetch_feed_batch(fleet.urls)
    (failure,) = ingestor.failures
    assert failure.error_kind == "read_timeout"
    assert failure.elapsed < 5.0


async def test_payload_over_max_bytes_is_a_permanent_failure() -> None:
    """A body larger than max_payload_bytes fails as too_large without being kept."""
    async with SupplierFleet(fleet_spec(1, faults={0: Fault.huge(size_bytes=5_000_000)})) as fleet:
        cfg = quick(limits=Limits(max_payload_bytes=1_000_000))
        async with AsyncBatchIngestor(cfg) as ingestor:
            await ingestor.fetch_feed_batch(fleet.urls)
    (failure,) = ingestor.failures
    assert (failure.error_kind, failure.permanent, failure.attempts) == ("too_large", True, 1)


async def test_stop_leaves_unstarted_urls_as_cancelled() -> None:
    """After stop(), no new request starts; the rest end as 'cancelled', none lost."""
    slow = LatencyModel(median=0.05, sigma=0.1, max=0.1)
    async with SupplierFleet(fleet_spec(50, hosts=1, latency=slow)) as fleet:
        outcomes: list[FetchOutcome] = []
        cfg = FeedConfig(max_concurrency=2)
        async with AsyncBatchIngestor(cfg) as ingestor:

            async def handle(outcome: FetchOutcome) -> None:
                outcomes.append(outcome)
                if len(outcomes) == 4:
                    ingestor.stop()

            await ingestor.fetch_each([FetchRequest(u) for u in fleet.urls], handle)
        requested = fleet.stats.total_requests
    cancelled = [o for o in outcomes if isinstance(o, FetchFailure) and o.error_kind == "cancelled"]
    assert len(outcomes) == 50
    assert len(cancelled) >= 40
    assert requested == 50 - len(cancelled)


async def test_no_sockets_left_behind() -> None:
    """After the ingestor closes, no connection to the fleet is open or in CLOSE_WAIT."""
    faults = {0: Fault.reset(times=1), 1: Fault.truncate(times=1), 2: Fault.not_found()}
    async with SupplierFleet(fleet_spec(30, hosts=2, faults=faults)) as fleet:
        ports = set(fleet.ports)
        async with AsyncBatchIngestor(quick()) as ingestor:
            await ingestor.fetch_feed_batch(fleet.urls)
        await asyncio.sleep(0.05)
        mine = [
            c
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port in ports
        ]
    assert mine == []


def test_requests_are_timed_on_one_time_line_so_handed_over_slots_never_overlap() -> None:
    """A request's ``started_at`` is on the engine's clock (one wall-clock anchor plus the
    clock's time since), and the attempt times are kept to the microsecond: a request that
    got its host's only slot as another ended starts, on the ledger's time line, no earlier
    than that one ended. (Anchored on the wall clock per request, with 0.1 ms rounding, two
    such attempts were drawn overlapping, and the HTML report's in-flight chart once showed
    5 in flight on a host limited to 4.)"""

    async def answer(request: TransportRequest) -> TransportResponse:
        await asyncio.sleep(0.3333337)
        return TransportResponse(200, {}, Body.from_bytes(b"{}"), "OK")

    async def go() -> list[FetchOutcome]:
        loop = asyncio.get_running_loop()
        config = FeedConfig(limits=Limits(per_host=1))
        async with AsyncBatchIngestor(
            config, transport=MockTransport(answer), clock=loop.time
        ) as ingestor:
            first = asyncio.create_task(ingestor.fetch_one(FetchRequest("http://127.0.0.1:9/a")))
            await asyncio.sleep(0.1)  # the second request is made later, and waits its turn
            second = await ingestor.fetch_one(FetchRequest("http://127.0.0.1:9/b"))
            return [await first, second]

    first, second = run_virtual(go())
    assert (second.started_at - first.started_at).total_seconds() == pytest.approx(0.1, abs=2e-6)
    (a,), (b,) = first.history, second.history
    first_end = first.started_at.timestamp() + a.as_dict()["start"] + a.as_dict()["elapsed"]
    second_start = second.started_at.timestamp() + b.as_dict()["start"]
    assert b.start == pytest.approx(0.3333337 - 0.1, abs=1e-9)
    assert second_start >= first_end - 2e-6
