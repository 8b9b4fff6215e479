"""Compressed bodies: gzip, deflate and br are accepted; a bomb is a typed error."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Callable

import brotli
import orjson
import pytest
from aiohttp import web

from supplyfeed import FeedConfig, Limits
from supplyfeed._fetch.engine import AsyncBatchIngestor

DOC = {"supplier_id": "S", "warehouse_id": "W", "as_of": "2026-11-28T07:45:00Z", "items": []}
ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}
BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB in ~64 KiB


@pytest.fixture
async def base() -> AsyncIterator[str]:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Accept-Encoding", ""))
        name = request.match_info["name"]
        if name == "bomb":
            body, encoding = BOMB, "gzip"
        else:
            body, encoding = ENCODERS[name](orjson.dumps(DOC)), name
        return web.Response(body=body, headers={"Content-Encoding": encoding})

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
    assert all("gzip" in s and "deflate" in s and "br" in s for s in seen)


async def test_gzip_deflate_and_br_bodies_decode(base: str) -> None:
    """Each encoding arrives decompressed and parses; Accept-Encoding offers all three."""
    async with AsyncBatchIngestor(FeedConfig()) as ing:
        docs = await ing.fetch_feed_batch([f"{base}/{name}" for name in ENCODERS])
    assert docs == [DOC, DOC, DOC]
    assert ing.failures == []


async def test_decompression_bomb_is_a_typed_too_large_error(base: str) -> None:
    """64 MiB of zeros in a 64 KiB gzip body against a 1 MiB cap: `too_large`, permanent,
    one attempt, and the client never holds more than about the cap in memory."""
    config = FeedConfig(
        limits=Limits(max_payload_bytes=1024 * 1024, spool_threshold_bytes=4 * 1024 * 1024)
    )
    async with AsyncBatchIngestor(config) as ing:
        docs = await ing.fetch_feed_batch([f"{base}/bomb", f"{base}/gzip"])
    assert docs == [DOC]
    [failure] = ing.failures
    assert failure.error_kind == "too_large"
    assert failure.permanent
    assert failure.attempts == 1
