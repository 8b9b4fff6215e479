"""Incremental pulls: the highest cursor loaded is kept per feed, and only after all pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from supplyfeed._config import SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._run.incremental import cursor_max, step_back
from supplyfeed._sink.memory import MemorySink

from .helpers import QUICK, run

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SIZE = 3


def _stamp(minute: int) -> str:
    return (T0 + dt.timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


class ChangesServer:
    """``/changes?since=...&page=N``: documents updated at or after ``since``, three a page."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.since: list[str | None] = []  # the since of every first-page request
        self.broken_pages: set[int] = set()
        self.base = ""
        self._runner: web.AppRunner | None = None

    def add(self, n: int) -> None:
        start = len(self.docs)
        for i in range(start, start + n):
            self.docs.append(
                {
                    "supplier_id": "I",
                    "warehouse_id": f"W{i}",
                    "as_of": "2026-11-28T07:45:00Z",
                    "updated_at": _stamp(i),
                    "items": [{"sku": "SKU-1", "on_hand": i, "available": i}],
                }
            )

    async def __aenter__(self) -> ChangesServer:
        app = web.Application()
        app.router.add_get("/changes", self._changes)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _changes(self, request: web.Request) -> web.Response:
        since = request.query.get("since")
        page = int(request.query.get("page", "0"))
        if page == 0:
            self.since.append(since)
        if page in self.broken_pages:
            return web.Response(status=500)
        newer = [d for d in self.docs if since is None or d["updated_at"] >= since]
        chunk = newer[page * SIZE : (page + 1) * SIZE]
        more = (page + 1) * SIZE < len(newer)
        nxt = f"/changes?since={since or ''}&page={page + 1}" if more and since else None
        if more and not since:
            nxt = f"/changes?page={page + 1}"
        body = {"data": chunk, "next": nxt}
        return web.Response(body=orjson.dumps(body), content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[ChangesServer]:
    async with ChangesServer() as s:
        yield s


def feeds(server: ChangesServer, **incremental: Any) -> tuple[SupplierSpec, ...]:
    feed = {
        "kind": "inventory_snapshot",
        "format": "json",
        "urls": [f"{server.base}/changes"],
        "pagination": {"style": "next_url", "path": "next", "records": "data"},
        "incremental": {"cursor_field": "updated_at", "param": "since", **incremental},
    }
    doc = {"defaults": dict(QUICK), "suppliers": [{"id": "I", "feeds": [feed]}]}
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers


async def _warehouses(sink: MemorySink) -> list[str]:
    return [r["warehouse_id"] for r in await sink.table_rows("inventory_positions")]


async def test_next_run_asks_only_for_newer_data(server: ChangesServer) -> None:
    """Run 2 sends the highest updated_at of run 1 and gets only what changed since."""
    server.add(7)
    suppliers = feeds(server)
    sink = MemorySink()
    first = await run(suppliers, sink, suppliers[0].config)
    server.add(2)
    second = await run(suppliers, sink, suppliers[0].config)
    assert first.outcomes == {"loaded": 3}  # 7 documents, 3 a page
    assert server.since == [None, _stamp(6)]
    assert second.outcomes == {"loaded": 1}  # W6 (at the cursor), W7, W8
    rows = await _warehouses(sink)
    assert sorted(rows) == sorted(f"W{i}" for i in range(9))  # nothing lost or duplicated
    cursors = await sink.get_cursors([_key(server)])
    assert cursors == {_key(server): _stamp(8)}


async def test_failed_page_stores_no_cursor(server: ChangesServer) -> None:
    """A feed whose second page fails keeps its old cursor: the next run leaves no gap."""
    server.add(7)
    server.broken_pages.add(1)
    suppliers = feeds(server, initial=_stamp(0))
    sink = MemorySink()
    first = await run(suppliers, sink, suppliers[0].config)
    assert first.outcomes == {"loaded": 1, "failed": 1}
    assert await sink.get_cursors([_key(server)]) == {}
    server.broken_pages.clear()
    second = await run(suppliers, sink, suppliers[0].config)
    # The first page is the one already loaded: unchanged, and its cursor still counts.
    assert second.outcomes == {"unchanged": 1, "loaded": 2}
    assert server.since == [_stamp(0), _stamp(0)]  # the initial value, both times
    rows = await _warehouses(sink)
    assert sorted(rows) == sorted(f"W{i}" for i in range(7))
    assert await sink.get_cursors([_key(server)]) == {_key(server): _stamp(6)}


async def test_lookback_window_asks_for_late_data(server: ChangesServer) -> None:
    """lookback: 120 moves the stored cursor back two minutes for late-arriving rows."""
    server.add(4)
    suppliers = feeds(server, lookback=120)
    sink = MemorySink()
    await run(suppliers, sink, suppliers[0].config)
    await run(suppliers, sink, suppliers[0].config)
    assert server.since == [None, _stamp(1)]
    assert sorted(await _warehouses(sink)) == ["W0", "W1", "W2", "W3"]


def test_cursor_values_compare_by_type() -> None:
    """Timestamps compare as instants, numbers as numbers; CSV columns work too."""
    body = orjson.dumps([{"u": "2026-01-01T00:00:00+01:00"}, {"u": "2025-12-31T23:30:00Z"}])
    assert cursor_max(body, "json", "u") == "2025-12-31T23:30:00Z"
    assert cursor_max(b"id,seq\na,9\nb,10\n", "csv", "seq") == "10"
    assert cursor_max(b"not json", "json", "u") is None
    assert step_back("2026-01-01T00:01:00Z", 60) == "2026-01-01T00:00:00Z"
    assert step_back("100", 5) == "95"


def _key(server: ChangesServer) -> str:
    return f"I|inventory_snapshot|{server.base}/changes"
