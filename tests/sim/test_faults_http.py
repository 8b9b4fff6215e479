"""Each fault, acted out by a running fleet, as a plain aiohttp client sees it."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import time

import aiohttp
import pytest

from supplyfeed.sim import Fault, LatencyModel, SupplierFleet

from .helpers import one_endpoint


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as response:
        return response.status, await response.read()


async def test_fail_then_ok_serves_the_status_k_times_then_the_document() -> None:
    """fail_then_ok(503, times=2): two 503s, then the healthy body, then healthy again."""
    spec = one_endpoint(Fault.fail_then_ok(503, times=2))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        url = fleet.urls[0]
        results = [await _get(session, url) for _ in range(4)]
        assert [status for status, _ in results] == [503, 503, 200, 200]
        assert results[2][1] == fleet.body_of(spec.endpoints[0])
        stats = fleet.stats.endpoints[url]
        assert (stats.requests, stats.faulted, stats.statuses) == (4, 2, {503: 2, 200: 2})


async def test_retry_after_sends_delta_seconds_rounded_up() -> None:
    """retry_after(seconds=1.5): 429 with ``Retry-After: 2``, once, then 200."""
    spec = one_endpoint(Fault.retry_after(seconds=1.5, times=1, status=429))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        async with session.get(fleet.urls[0]) as first:
            assert first.status == 429
            assert first.headers["Retry-After"] == "2"
        assert (await _get(session, fleet.urls[0]))[0] == 200


async def test_retry_after_http_date_is_in_the_future() -> None:
    """retry_after(http_date=True, status=503): an IMF-fixdate at least ``seconds`` ahead."""
    spec = one_endpoint(Fault.retry_after(seconds=3, times=1, status=503, http_date=True))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        async with session.get(fleet.urls[0]) as response:
            assert response.status == 503
            value = response.headers["Retry-After"]
    assert value.endswith(" GMT")
    when = email.utils.parsedate_to_datetime(value)
    ahead = (when - dt.datetime.now(dt.UTC)).total_seconds()
    assert 3.0 <= ahead <= 5.0


async def test_reset_without_end_is_a_client_connection_error() -> None:
    """reset(times=None): the connection is reset on every request (ECONNRESET)."""
    spec = one_endpoint(Fault.reset(times=None))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await _get(session, fleet.urls[0])
        assert fleet.stats.endpoints[fleet.urls[0]].no_response >= 1
        assert fleet.stats.in_flight() == 0


async def test_reset_is_absorbed_by_aiohttps_silent_retry() -> None:
    """reset(times=1): aiohttp resends an idempotent GET once after a reset, so one
    client call costs two server requests and succeeds (why outcome() counts them)."""
    spec = one_endpoint(Fault.reset(times=1))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        assert (await _get(session, fleet.urls[0]))[0] == 200
        assert fleet.stats.endpoints[fleet.urls[0]].requests == 2


async def test_truncate_is_a_client_payload_error_then_succeeds() -> None:
    """truncate(times=1): full Content-Length, half the body, close; then a whole body."""
    spec = one_endpoint(Fault.truncate(times=1))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        url = fleet.urls[0]
        async with session.get(url) as response:
            assert response.content_length == len(fleet.body_of(spec.endpoints[0]))
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        status, body = await _get(session, url)
        assert (status, body) == (200, fleet.body_of(spec.endpoints[0]))


async def test_drip_sends_the_whole_body_slowly() -> None:
    """drip(64 bytes, 20 ms): the body arrives intact, no faster than its gaps allow."""
    spec = one_endpoint(Fault.drip(bytes_per_chunk=64, delay=0.02), records=3)
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        body = fleet.body_of(spec.endpoints[0])
        gaps = (len(body) - 1) // 64
        started = time.monotonic()
        assert await _get(session, fleet.urls[0]) == (200, body)
        assert time.monotonic() - started >= gaps * 0.02 * 0.9
        assert gaps >= 3


async def test_hang_never_answers_and_is_cancelled_when_the_client_leaves() -> None:
    """hang(): the client times out; the server's handler ends when the client leaves."""
    spec = one_endpoint(Fault.hang())
    async with SupplierFleet(spec) as fleet:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as session:
            with pytest.raises(asyncio.TimeoutError):
                await _get(session, fleet.urls[0])
        for _ in range(50):
            if fleet.stats.in_flight() == 0:
                break
            await asyncio.sleep(0.01)
        assert fleet.stats.in_flight() == 0


async def test_hanging_handlers_are_cancelled_at_shutdown() -> None:
    """Closing the fleet with a request still hanging ends cleanly and quickly."""
    spec = one_endpoint(Fault.hang())
    fleet = SupplierFleet(spec, shutdown_timeout=0.05)
    await fleet.start()
    async with aiohttp.ClientSession() as session:
        pending = asyncio.ensure_future(_get(session, fleet.urls[0]))
        for _ in range(400):  # polling a counter: there is no event to wait on
            if fleet.stats.in_flight():
                break
            await asyncio.sleep(0.005)
        started = time.monotonic()
        await fleet.close()
        assert time.monotonic() - started < 2.0
        with pytest.raises(aiohttp.ClientError):
            await pending
    assert fleet.stats.in_flight() == 0


async def test_not_found_is_permanent() -> None:
    """not_found(): 404 on every request."""
    spec = one_endpoint(Fault.not_found())
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        assert [(await _get(session, fleet.urls[0]))[0] for _ in range(3)] == [404] * 3


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_malformed_is_200_with_an_undecodable_body(fmt: str) -> None:
    """malformed(): 200 with the format's content type and a body that differs from the
    healthy one and is not valid UTF-8 JSON/CSV."""
    spec = one_endpoint(Fault.malformed(), fmt=fmt)
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        status, body = await _get(session, fleet.urls[0])
    assert status == 200
    assert body != fleet.body_of(spec.endpoints[0])
    decode = json.loads if fmt == "json" else bytes.decode
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        decode(body)


async def test_huge_declares_size_bytes_and_starts_with_the_document() -> None:
    """huge(size): Content-Length is ``size``; the document comes first, then newlines."""
    spec = one_endpoint(Fault.huge(size_bytes=300_000))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        status, body = await _get(session, fleet.urls[0])
    document = fleet.body_of(spec.endpoints[0])
    assert status == 200
    assert len(body) == 300_000
    assert body.startswith(document)
    assert body[len(document) :].strip() == b""


async def test_unknown_path_is_404() -> None:
    """A path the host does not serve is a 404, counted apart from endpoints."""
    spec = one_endpoint(None)
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        status, _ = await _get(session, f"http://127.0.0.1:{fleet.ports[0]}/nope")
    assert status == 404
    assert fleet.stats.unknown_paths == 1


async def test_latency_delays_answers() -> None:
    """A 50 ms fixed latency (sigma 0) delays every answer by about 50 ms."""
    spec = one_endpoint(None, latency=LatencyModel(median=0.05, sigma=0.0, max=1.0))
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession() as session:
        started = time.monotonic()
        await _get(session, fleet.urls[0])
        assert time.monotonic() - started >= 0.045
