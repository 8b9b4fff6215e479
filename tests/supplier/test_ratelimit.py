"""Per-supplier rate limits: a token bucket, and the supplier's RateLimit headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from supplyfeed import FeedConfig, Limits, RateLimit
from supplyfeed._fetch.engine import AsyncBatchIngestor
from supplyfeed._fetch.outcome import FetchOutcome, FetchRequest
from supplyfeed._fetch.ratelimit import RateLimiter, pause_from_headers

from ..virtual_time import VirtualClock

Server = tuple[str, list[float], dict[str, str]]


@pytest.fixture
async def server(clock: VirtualClock) -> AsyncIterator[Server]:
    """Records arrival times (virtual); answers with the headers in ``extra`` once, then
    plain 200."""
    arrivals: list[float] = []
    extra: dict[str, str] = {}

    async def handle(request: web.Request) -> web.Response:
        arrivals.append(clock())
        headers = dict(extra)
        extra.clear()
        return web.json_response({"n": len(arrivals)}, headers=headers)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", arrivals, extra
    finally:
        await runner.cleanup()


async def _fetch(
    limiter: RateLimiter,
    requests: list[FetchRequest],
    handled: Callable[[FetchOutcome], None] = lambda outcome: None,
) -> list[FetchOutcome]:
    outcomes: list[FetchOutcome] = []

    async def handle(outcome: FetchOutcome) -> None:
        outcomes.append(outcome)
        handled(outcome)
        if outcome.ok:
            outcome.body.discard()

    async with AsyncBatchIngestor(FeedConfig(limits=Limits(per_host=50)), hooks=[limiter]) as ing:
        await ing.fetch_each(requests, handle)
    return outcomes


async def test_token_bucket_spaces_requests_of_one_supplier(
    server: Server, clock: VirtualClock
) -> None:
    """20 req/s with a burst of 2: the 12 requests of SLOW wait (12 - 2) / 20 s in all, one
    token (0.05 s) at a time; another supplier on the same host is not slowed down: every
    FAST request is done before the SLOW bucket's first wait ends."""
    base, _, _ = server
    fast_done = asyncio.Event()
    fast_seen: list[FetchOutcome] = []

    def handled(outcome: FetchOutcome) -> None:
        if outcome.request.supplier_id == "FAST":
            fast_seen.append(outcome)
            if len(fast_seen) == 12:
                fast_done.set()

    async def slow_sleep(seconds: float) -> None:
        # Were FAST queued behind this bucket, it would never be done: the guard fails.
        async with asyncio.timeout(30):
            await fast_done.wait()
        await clock.sleep(seconds)

    limiter = RateLimiter(
        {"SLOW": RateLimit(per_second=20.0, burst=2)}, clock=clock, sleep=slow_sleep
    )
    t0 = clock()
    slow = [FetchRequest(f"{base}/s{i}", supplier_id="SLOW") for i in range(12)]
    fast = [FetchRequest(f"{base}/f{i}", supplier_id="FAST") for i in range(12)]
    outcomes = await _fetch(limiter, fast + slow, handled)
    assert len(outcomes) == 24
    assert sorted(o.request.url for o in outcomes) == sorted(r.url for r in fast + slow)
    assert all(o.ok for o in outcomes)
    assert clock.sleeps == [pytest.approx(0.05)] * 10
    assert clock() - t0 == pytest.approx(0.5)


async def test_ratelimit_remaining_zero_pauses_the_supplier(
    server: Server, clock: VirtualClock
) -> None:
    """RateLimit-Remaining: 0 with RateLimit-Reset: 1 holds the next request 1 s."""
    base, arrivals, extra = server
    extra.update({"RateLimit-Remaining": "0", "RateLimit-Reset": "1"})
    limiter = RateLimiter({"A": RateLimit()}, clock=clock, sleep=clock.sleep)
    await _fetch(limiter, [FetchRequest(f"{base}/first", supplier_id="A")])
    await _fetch(limiter, [FetchRequest(f"{base}/second", supplier_id="A")])
    assert limiter.pauses == 1
    assert clock.sleeps == [pytest.approx(1.0)]
    assert arrivals[1] - arrivals[0] == pytest.approx(1.0)


def test_header_forms() -> None:
    """Draft IETF, combined structured field, X- prefixed, and Unix-time resets."""
    assert pause_from_headers({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"}, 0) == 7
    assert pause_from_headers({"RateLimit": "limit=10, remaining=0, reset=3"}, 0) == 3
    assert (
        pause_from_headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2000000005"}, 2e9)
        == 5
    )
    assert pause_from_headers({"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "9"}, 0) is None
    assert pause_from_headers({}, 0) is None
