"""Decompression bombs: a permanent too_large naming the ratio, never retried, never
spooled past the cap; and a large body streams to the spool without blocking the loop.

The bombs are made at test time (a few MB of zeros, compressed); the caps are made small
through the feeds file so the tests stay fast. The spool file's size is capped by the
kernel (RLIMIT_FSIZE): a spool write past the cap would fail with EFBIG, so a pass shows
nothing past the cap was ever written.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import resource
import signal
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
import yaml
from aiohttp import web

from supplyfeed import FeedConfig, Limits
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.content_encoding import RATIO_FLOOR
from supplyfeed._fetch.engine import AsyncBatchIngestor
from supplyfeed._fetch.outcome import FetchOutcome, FetchRequest, FetchSuccess
from supplyfeed._run.pipeline import RunOptions
from supplyfeed._sink.base import EndpointRecord, Outcome
from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry.loop_lag import LoopLagMonitor

from .helpers import QUICK, run
from .origins import Origin, assert_rows_exactly, document

ZEROS = 32 * 1024 * 1024  # each bomb inflates to 32 MiB
BOMBS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda b: gzip.compress(b, compresslevel=9),
    "deflate": lambda b: zlib.compress(b, 9),
    "br": lambda b: brotli.compress(b, quality=5),
}
RATIO = 100


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    zeros = b"\0" * ZEROS
    return {name: make(zeros) for name, make in BOMBS.items()}


@contextlib.contextmanager
def file_size_limit(cap: int) -> Iterator[int]:
    """No file this process writes may grow past ``cap`` bytes (EFBIG past it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (cap, hard))
    try:
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@pytest.fixture
def spool_cap(bombs: dict[str, bytes]) -> Iterator[int]:
    """The cap the bombs must stay under, enforced by the kernel on every file."""
    with file_size_limit(
        max(RATIO_FLOOR, RATIO * max(len(b) for b in bombs.values())) + 512 * 1024
    ) as cap:
        yield cap


@pytest.fixture
async def origin(bombs: dict[str, bytes]) -> AsyncIterator[tuple[Origin, Counter[str]]]:
    asked: Counter[str] = Counter()

    def compressed(name: str, body: bytes) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            asked[request.path] += 1
            return web.Response(body=body, headers={"Content-Encoding": name})

        return handler

    async with Origin() as o:
        for name, bomb in bombs.items():
            o.routes[f"/bomb/{name}"] = compressed(name, bomb)
            o.routes[f"/ok/{name}"] = compressed(name, BOMBS[name](document(f"ok-{name}")))
        yield o, asked


async def ingest(
    urls: list[str], spool: Path, options: RunOptions | None = None, **overrides: Any
) -> tuple[MemorySink, list[EndpointRecord]]:
    feed = {"kind": "inventory_snapshot", "format": "json", "urls": urls}
    doc = {
        "defaults": {**QUICK, "spool_threshold_bytes": 64 * 1024},
        "suppliers": [{"id": "S", "overrides": overrides, "feeds": [feed]}],
    }
    [spec] = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers
    options = options or RunOptions()
    options.spool_dir = spool
    sink = MemorySink()
    summary = await run((spec,), sink, spec.config, options)
    return sink, await sink.endpoints(summary.run_id)


async def test_gzip_deflate_and_br_bombs_are_permanent_too_large(
    origin: tuple[Origin, Counter[str]], tmp_path: Path, spool_cap: int
) -> None:
    """Three bombs at once, each 32 MiB of zeros, against max_payload_bytes 64 MiB and
    max_decompression_ratio 100: each fails as too_large naming its ratio, after one
    request, with no spool file past the cap and none left behind; the honest compressed
    documents beside them load, every record once."""
    server, asked = origin
    urls = [server.url(f"/{what}/{name}") for what in ("bomb", "ok") for name in BOMBS]
    sink, records = await ingest(
        urls, tmp_path, max_payload_bytes=64 * 1024 * 1024, max_decompression_ratio=RATIO
    )
    failed = {r.endpoint.url: r for r in records if r.outcome is Outcome.FAILED}
    assert sorted(failed) == sorted(server.url(f"/bomb/{n}") for n in BOMBS)
    for record in failed.values():
        assert (record.error_kind, record.permanent, record.attempts) == ("too_large", True, 1)
        assert record.error_message is not None
        assert "max_decompression_ratio 100" in record.error_message
        assert "ratio " in record.error_message
    assert all(asked[f"/bomb/{n}"] == 1 for n in BOMBS)  # never downloaded again
    assert os.listdir(tmp_path) == []  # the aborted spools are gone
    await assert_rows_exactly(sink, [f"ok-{n}" for n in BOMBS])


async def test_the_decoded_size_is_capped_as_it_grows(
    origin: tuple[Origin, Counter[str]], tmp_path: Path, spool_cap: int
) -> None:
    """With the ratio allowed, max_payload_bytes (2 MiB) still stops each bomb as soon as
    the decoded bytes pass it, not after the whole body was inflated."""
    server, _ = origin
    sink, records = await ingest(
        [server.url(f"/bomb/{n}") for n in BOMBS],
        tmp_path,
        max_payload_bytes=2 * 1024 * 1024,
        max_decompression_ratio=1_000_000.0,
    )
    for record in records:
        assert (record.error_kind, record.attempts) == ("too_large", 1)
        assert record.error_message is not None
        assert "max_payload_bytes 2097152" in record.error_message
    assert os.listdir(tmp_path) == []
    await assert_rows_exactly(sink, [])


async def test_a_large_body_streams_to_the_spool_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """48 MiB past a 40 MiB spool threshold: the disk writes run in a thread, so the
    event loop is never late by 100 ms or more while the body streams to its file."""
    body = os.urandom(1024 * 1024) * 48

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(0, len(body), 1024 * 1024):
            await response.write(body[i : i + 1024 * 1024])
        await response.write_eof()
        return response

    outcomes: list[FetchOutcome] = []

    async def keep(outcome: FetchOutcome) -> None:
        outcomes.append(outcome)

    config = FeedConfig(limits=Limits(spool_threshold_bytes=40 * 1024 * 1024), timeout_seconds=60.0)
    monitor = LoopLagMonitor(threshold=0.1, interval=0.005)
    async with Origin() as server, AsyncBatchIngestor(config, spool_dir=tmp_path) as ingestor:
        server.routes["/big"] = big
        monitor.start()
        try:
            await ingestor.fetch_each([FetchRequest(server.url("/big"))], keep)
        finally:
            monitor.stop()
    [outcome] = outcomes
    assert isinstance(outcome, FetchSuccess)
    assert outcome.body.spooled
    assert outcome.body.size == len(body)
    assert outcome.body.sha256 == hashlib.sha256(body).hexdigest()
    outcome.body.discard()
    stats = monitor.stats()
    assert stats["samples"] > 10
    assert stats["max_seconds"] < 0.1, stats


async def test_a_spool_write_that_fails_is_a_typed_failure_of_that_endpoint(
    tmp_path: Path,
) -> None:
    """The spool file cannot grow (EFBIG here, ENOSPC on a full disk): that endpoint fails
    as a transient `spool` error naming the folder, retried, its file removed; the run
    finishes and the endpoint beside it loads."""
    big = document("big")[:-1] + b',"note":"' + b" " * (4 * 1024 * 1024) + b'"}'
    async with Origin() as server:
        server.routes["/big"] = _plain(big)
        server.routes["/small"] = _plain(document("small"))
        with file_size_limit(1024 * 1024):
            sink, records = await ingest(
                [server.url("/big"), server.url("/small")], tmp_path, retry_attempts=2
            )
    by_url = {r.endpoint.url: r for r in records}
    failed = by_url[server.url("/big")]
    assert (failed.outcome, failed.error_kind, failed.permanent) == (Outcome.FAILED, "spool", False)
    assert failed.attempts == 2
    assert failed.error_message is not None
    assert str(tmp_path) in failed.error_message
    assert by_url[server.url("/small")].outcome is Outcome.LOADED
    assert os.listdir(tmp_path) == []
    await assert_rows_exactly(sink, ["small"])


def _plain(body: bytes) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    return handler
