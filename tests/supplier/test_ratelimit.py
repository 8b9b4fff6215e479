"""Per-supplier rate limits: a token bucket, and the supplier's RateLimit headers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from supplyfeed import FeedConfig
from supplyfeed._fetch.engine import AsyncBatchIngestor
from supplyfeed._fetch.outcome import FetchOutcome, FetchRequest
from supplyfeed._fetch.ratelimit import BucketSpec, RateLimiter, pause_from_headers

Server = tuple[str, list[float], dict[str, str]]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """Records arrival times; answers with the headers in ``extra`` once, then plain 200."""
    arrivals: list[float] = []
    extra: dict[str, str] = {}

    async def handle(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
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


async def _fetch(limiter: RateLimiter, requests: list[FetchRequest]) -> list[FetchOutcome]:
    outcomes: list[FetchOutcome] = []

    async def handle(outcome: FetchOutcome) -> None:
        outcomes.append(outcome)
        if outcome.ok:
            outcome.body.discard()

    async with AsyncBatchIngestor(FeedConfig(limit_per_host=50), hooks=[limiter]) as ing:
        await ing.fetch_each(requests, handle)
    return outcomes


async def test_token_bucket_spaces_requests_of_one_supplier(server: Server) -> None:
    """20 req/s with a burst of 2: 12 requests take at least (12 - 2) / 20 s; another
    supplier on the same host is not slowed down."""
    base, arrivals, _ = server
    limiter = RateLimiter({"SLOW": BucketSpec(rate=20.0, burst=2)})
    t0 = time.monotonic()
    slow = [FetchRequest(f"{base}/s{i}", supplier_id="SLOW") for i in range(12)]
    fast = [FetchRequest(f"{base}/f{i}", supplier_id="FAST") for i in range(12)]
    outcomes = await _fetch(limiter, fast + slow)
    assert len(outcomes) == 24
    assert all(o.ok for o in outcomes)
    assert time.monotonic() - t0 >= 0.45
    # The 12 FAST requests did not queue behind the bucket: they all arrived early.
    assert sorted(arrivals)[11] - t0 < 0.3


async def test_ratelimit_remaining_zero_pauses_the_supplier(server: Server) -> None:
    """RateLimit-Remaining: 0 with RateLimit-Reset: 1 holds the next request ~1 s."""
    base, arrivals, extra = server
    extra.update({"RateLimit-Remaining": "0", "RateLimit-Reset": "1"})
    limiter = RateLimiter({"A": BucketSpec()})
    await _fetch(limiter, [FetchRequest(f"{base}/first", supplier_id="A")])
    await _fetch(limiter, [FetchRequest(f"{base}/second", supplier_id="A")])
    assert limiter.pauses == 1
    assert arrivals[1] - arrivals[0] >= 0.9


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
