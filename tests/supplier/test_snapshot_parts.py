"""docs/contract.md §6 end to end: snapshots split over URLs and pages, corrections and stale
bodies,
through the real pipeline against a real local server, into SQLite and memory."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from supplyfeed._config import FeedConfig, SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._sink.base import Sink
from supplyfeed._sink.memory import MemorySink
from supplyfeed._sink.sqlite import SqliteSink

from .helpers import QUICK, run
from .origins import Origin

AS_OF = "2026-11-28T07:45:00Z"


def snapshot(items: dict[str, int], issued: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"supplier_id": "S1", "warehouse_id": "W1", "as_of": AS_OF}
    if issued:
        doc["issued_at"] = issued
    doc["items"] = [{"sku": k, "on_hand": v} for k, v in items.items()]
    return doc


class Supplier:
    """Serves, per name, the body of the current poll (``self.poll``) on a local
    :class:`Origin`; a name given a list of pages serves them over ``Link: rel="next"``.
    ETags and If-None-Match like a CDN."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.polls: dict[str, list[Any]] = {}  # name -> one body (or list of pages) per poll
        self.poll = 0
        self.conditional: list[tuple[str | None, str]] = []  # (If-None-Match sent, ETag)

    @property
    def base(self) -> str:
        return self.origin.base

    def serve(self, name: str, polls: list[Any]) -> None:
        self.polls[name] = polls
        self.origin.routes[f"/{name}"] = functools.partial(self._serve, name)

    async def _serve(self, name: str, request: web.Request) -> web.StreamResponse:
        current = self.polls[name][min(self.poll, len(self.polls[name]) - 1)]
        headers: dict[str, str] = {}
        if isinstance(current, list):  # pages
            page = int(request.query.get("p", "0"))
            body = orjson.dumps(current[page])
            if page + 1 < len(current):
                headers["Link"] = f'<{self.base}/{name}?p={page + 1}>; rel="next"'
        else:
            body = orjson.dumps(current)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.conditional.append((request.headers.get("If-None-Match"), etag))
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers["ETag"] = etag
        return web.Response(body=body, headers=headers, content_type="application/json")


@pytest.fixture
async def supplier() -> AsyncIterator[Supplier]:
    async with Origin() as origin:
        yield Supplier(origin)


@pytest.fixture(params=["memory", "sqlite"])
async def sink(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sink]:
    opened: Sink = (
        MemorySink() if request.param == "memory" else SqliteSink(f"sqlite:///{tmp_path / 's.db'}")
    )
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def feeds(supplier: Supplier, names: list[str], *, paged: bool = False) -> tuple[
    tuple[SupplierSpec, ...], FeedConfig
]:  # fmt: skip
    feed: dict[str, Any] = {
        "kind": "inventory_snapshot",
        "format": "json",
        "urls": [f"{supplier.base}/{n}" for n in names],
    }
    if paged:
        feed["pagination"] = {"style": "link"}
    doc = {"defaults": dict(QUICK), "suppliers": [{"id": "S1", "feeds": [feed]}]}
    parsed = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {})
    return parsed.suppliers, parsed.defaults


async def load(sink: Sink, supplier: Supplier, names: list[str], *, paged: bool = False) -> Any:
    suppliers, config = feeds(supplier, names, paged=paged)
    return await run(suppliers, sink, config)


async def stock(sink: Sink) -> dict[str, Any]:
    rows = await sink.table_rows("inventory_positions")
    assert len({r["sku"] for r in rows}) == len(rows)  # nothing duplicated
    return {r["sku"]: r["on_hand"] for r in rows}


async def test_a_snapshot_split_over_urls_is_loaded_whole(supplier: Supplier, sink: Sink) -> None:
    """Three URLs, one product line each, one warehouse and as_of: every item lands, and
    the summary's records loaded equal the rows."""
    lines = {f"line{n}": {f"L{n}-{i}": n * 10 + i for i in range(20)} for n in range(3)}
    for name, items in lines.items():
        supplier.serve(name, [snapshot(items)])
    summary = await load(sink, supplier, list(lines))
    expected = {sku: q for items in lines.values() for sku, q in items.items()}
    assert await stock(sink) == expected
    assert summary.buckets == {
        "loaded": 60, "unchanged": 0, "stale": 0, "superseded": 0, "conflict": 0
    }  # fmt: skip


async def test_a_paged_snapshot_keeps_every_page_and_follows_shifting_pages(
    supplier: Supplier, sink: Sink
) -> None:
    """Five pages of 20 items, one document per page, one as_of: 100 rows, not 20. A
    re-poll that shifts the boundaries and drops a page ends equal to the new delivery."""
    first = {f"SKU-{i:03}": i for i in range(100)}
    second = {f"SKU-{i:03}": i + (1000 if i % 7 == 0 else 0) for i in range(5, 90)}
    supplier.serve("inv", [_pages(first, 20), _pages(second, 30)])
    await load(sink, supplier, ["inv"], paged=True)
    assert await stock(sink) == first
    supplier.poll = 1
    summary = await load(sink, supplier, ["inv"], paged=True)
    assert await stock(sink) == second
    assert summary.outcomes == {"loaded": 3}


def _pages(items: dict[str, int], size: int) -> list[dict[str, Any]]:
    keys = list(items)
    return [snapshot({k: items[k] for k in keys[i : i + size]}) for i in range(0, len(keys), size)]


async def test_a_correction_by_repoll_wins_whatever_its_hash(
    supplier: Supplier, sink: Sink
) -> None:
    """The same URL, the same as_of, no issued_at, changed quantities: the re-poll wins."""
    supplier.serve("inv", [snapshot({"A": 1, "B": 2}), snapshot({"A": 5})])
    await load(sink, supplier, ["inv"])
    supplier.poll = 1
    await load(sink, supplier, ["inv"])
    assert await stock(sink) == {"A": 5}


async def test_a_body_that_lost_records_to_staleness_is_fetched_again(
    supplier: Supplier, sink: Sink
) -> None:
    """A stale body (an older issued_at than the stored one) keeps the table as it is and
    stores no validator: the next poll gets the body again, so a correction can arrive."""
    newer = snapshot({"A": 9}, issued="2026-11-28T08:00:00Z")
    older = snapshot({"A": 1}, issued="2026-11-28T07:00:00Z")
    supplier.serve("inv", [newer, older, older])
    await load(sink, supplier, ["inv"])
    supplier.poll = 1
    stale = await load(sink, supplier, ["inv"])
    supplier.poll = 2
    again = await load(sink, supplier, ["inv"])
    assert await stock(sink) == {"A": 9}
    assert (stale.buckets["stale"], again.buckets["stale"]) == (1, 1)
    assert again.outcomes == {"loaded": 1}  # fetched and decoded, not "unchanged"
    # Poll 2 and 3 both sent the validator of poll 1's body (the one stored), never that
    # of the stale body: a server still serving it answers 200, never 304.
    (none, first), (sent2, second), (sent3, _) = supplier.conditional
    assert (none, sent2, sent3) == (None, first, first)
    assert second != first
