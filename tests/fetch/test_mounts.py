"""Transports by URL scheme (``_fetch/mounts.py``): real files, the simulator's HTTP hosts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from supplyfeed import AsyncBatchIngestor, FeedConfig, FetchFailure, FetchRequest, MockTransport
from supplyfeed._fetch.drops import DropTransport
from supplyfeed._fetch.hooks import BaseHook, Send
from supplyfeed._fetch.mounts import MountedTransport
from supplyfeed._fetch.outcome import FetchOutcome
from supplyfeed._fetch.transport import TransportRequest, TransportResponse
from supplyfeed.sim import SupplierFleet

from .conftest import fleet_spec


def _files(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    urls = []
    for i in range(count):
        path = folder / f"W{i}.json"
        path.write_bytes(orjson.dumps({"file": i}))
        urls.append(path.as_uri())
    return urls


class _Closes:
    """A transport that counts how often it was closed, and serves nothing."""

    def __init__(self) -> None:
        self.closed = 0

    async def send(self, request: TransportRequest) -> TransportResponse:
        raise AssertionError(f"not routed here: {request.url}")

    async def aclose(self) -> None:
        self.closed += 1


class SchemeCount(BaseHook):
    """Counts the requests each hook call saw, by scheme, and always calls ``call_next``."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        self.sent[treq.url.partition(":")[0]] += 1
        return await call_next(treq)


async def _fetch(ingestor: AsyncBatchIngestor, requests: list[FetchRequest]) -> list[FetchOutcome]:
    outcomes: list[FetchOutcome] = []

    async def handle(outcome: FetchOutcome) -> None:
        outcomes.append(outcome)
        if not isinstance(outcome, FetchFailure):
            outcome.body.discard()

    await ingestor.fetch_each(requests, handle)
    return outcomes


async def test_file_urls_go_to_the_mounted_transport_and_http_to_the_default(
    tmp_path: Path,
) -> None:
    """Each file is read by the file transport (with its supplier), each HTTP URL is
    requested once from the simulator, and the hooks see both."""
    files = _files(tmp_path / "in", 3)
    drops = DropTransport()
    mounted = MockTransport(drops.send)  # records what reached the file transport
    hook = SchemeCount()
    async with SupplierFleet(fleet_spec(4, hosts=1)) as fleet:
        urls = fleet.urls
        async with AsyncBatchIngestor(
            FeedConfig(), mounts={"file": mounted}, hooks=[hook]
        ) as ingestor:
            payloads = await ingestor.fetch_feed_batch([*files, *urls])
        http_requests = {u: fleet.stats.endpoints[u].requests for u in urls}
    await drops.aclose()
    assert ingestor.last_batch.total == 7
    assert ingestor.failures == []
    assert payloads[:3] == [{"file": 0}, {"file": 1}, {"file": 2}]
    assert [r.url for r in mounted.requests] == files
    assert http_requests == dict.fromkeys(urls, 1)
    assert hook.sent == {"file": 3, "http": 4}


async def test_the_supplier_id_reaches_the_mounted_transport(tmp_path: Path) -> None:
    """The request the transport sees names its supplier: what SFTP logs in with."""
    files = _files(tmp_path, 2)
    drops = DropTransport()
    mounted = MockTransport(drops.send)
    requests = [FetchRequest(url=u, supplier_id=s) for u, s in zip(files, "AB", strict=True)]
    async with AsyncBatchIngestor(FeedConfig(), mounts={"file": mounted}) as ingestor:
        outcomes = await _fetch(ingestor, requests)
    await drops.aclose()
    assert sorted(o.ok for o in outcomes) == [True, True]
    assert sorted((r.url, r.supplier_id) for r in mounted.requests) == [
        (files[0], "A"),
        (files[1], "B"),
    ]


async def test_an_unmounted_scheme_fails_its_endpoint_with_a_clear_message(
    tmp_path: Path,
) -> None:
    """sftp:// with only file mounted: a permanent failure naming the scheme and what
    the run reads, after one attempt; the other endpoints load."""
    files = _files(tmp_path, 1)
    drops = DropTransport()
    sftp_url = "sftp://127.0.0.1:1/out/W1.edi"
    async with SupplierFleet(fleet_spec(2, hosts=1)) as fleet:
        async with AsyncBatchIngestor(
            FeedConfig(retry_attempts=3), mounts={"file": drops}
        ) as ingestor:
            await ingestor.fetch_feed_batch([sftp_url, *files, *fleet.urls])
    await drops.aclose()
    batch = ingestor.last_batch
    assert (batch.total, len(batch.succeeded)) == (4, 3)
    [failure] = batch.failed
    assert failure.url == sftp_url
    assert (failure.error_kind, failure.permanent, failure.attempts) == ("invalid_url", True, 1)
    assert "no transport for sftp:// URLs (this run reads file, http, https)" in failure.message


async def test_an_empty_mount_map_still_names_an_unknown_scheme() -> None:
    """Routing by scheme with nothing mounted: ftp:// is refused by name, not by aiohttp."""
    async with AsyncBatchIngestor(FeedConfig(), mounts={}) as ingestor:
        [outcome] = await _fetch(ingestor, [FetchRequest(url="ftp://127.0.0.1/x.csv")])
    assert isinstance(outcome, FetchFailure)
    assert outcome.error_kind == "invalid_url"
    assert "no transport for ftp:// URLs (this run reads http, https)" in outcome.message


async def test_closing_closes_each_transport_once_and_again_does_nothing() -> None:
    """One transport mounted under two schemes is closed once; a second aclose is a no-op."""
    default, drops = _Closes(), _Closes()
    transport = MountedTransport(default, {"file": drops, "SFTP": drops})
    assert transport.schemes == ["file", "http", "https", "sftp"]
    await transport.aclose()
    await transport.aclose()
    assert (default.closed, drops.closed) == (1, 1)


async def test_the_engine_never_closes_a_mounted_transport() -> None:
    """Mounts are the caller's, like a transport passed in: the drop transport lists
    folders before the engine starts and moves files after it stops."""
    drops, given = _Closes(), _Closes()
    async with AsyncBatchIngestor(FeedConfig(), transport=given, mounts={"file": drops}):
        pass
    assert (given.closed, drops.closed) == (0, 0)
