"""Pagination: every style against a real local paged server; pages load as they come."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from supplyfeed import ConfigError
from supplyfeed._config import SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.pagination import link_next
from supplyfeed._run.pipeline import RunOptions
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim import SupplierFleet
from supplyfeed.sim.paged import STYLES, paged_feeds_document

from .helpers import QUICK, assert_rows_match, fleet_spec, run

DOCS = 10
SIZE = 3
ITEMS = 2


def _doc(style: str, n: int, as_of: str = "2026-11-28T07:45:00Z") -> dict[str, Any]:
    return {
        "supplier_id": "P",
        "warehouse_id": f"{style}-{n}",
        "as_of": as_of,
        "items": [{"sku": f"SKU-{i}", "on_hand": i, "available": i} for i in range(ITEMS)],
    }


class PagedServer:
    """Ten documents per style, three to a page; ``broken`` pages answer 500."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.broken: set[tuple[str, int]] = set()
        self.as_of = "2026-11-28T07:45:00Z"  # a new stock count changes every page
        self.base = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> PagedServer:
        app = web.Application()
        app.router.add_get("/{style}", self._page)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        style, q = request.match_info["style"], request.query
        index = {
            "next": lambda: int(q.get("page", "0")),
            "cursor": lambda: int(q.get("cursor", "c0")[1:]),
            "link": lambda: int(q.get("p", "0")),
            "page": lambda: int(q["page"]) - 1,
            "offset": lambda: int(q["offset"]) // int(q["limit"]),
            "short": lambda: int(q["page"]),
        }[style]()
        self.requests[style, index] += 1
        if (style, index) in self.broken:
            return web.Response(status=500)
        numbers = range(index * SIZE, min(DOCS, (index + 1) * SIZE))
        docs = [_doc(style, n, self.as_of) for n in numbers]
        more = (index + 1) * SIZE < DOCS
        headers: dict[str, str] = {}
        body: Any
        if style == "next":
            body = {"data": docs, "next": f"/next?page={index + 1}" if more else None}
        elif style == "cursor":
            body = {"data": docs, "meta": {"next_cursor": f"c{index + 1}" if more else ""}}
        elif style == "link":
            body = docs
            if more:
                headers["Link"] = f'<{self.base}/link?p={index + 1}>; rel="next", <x>; rel="last"'
        elif style == "page":
            body = {"items": docs, "total": DOCS}
        else:  # offset (stop on an empty page) and short (stop on a short page)
            body = docs
        return web.Response(
            body=orjson.dumps(body), headers=headers, content_type="application/json"
        )


@pytest.fixture
async def server() -> AsyncIterator[PagedServer]:
    async with PagedServer() as s:
        yield s


PAGINATION: dict[str, tuple[str, dict[str, Any]]] = {
    "next": ("/next", {"style": "next_url", "path": "next", "records": "data"}),
    "cursor": (
        "/cursor",
        {"style": "cursor", "path": "meta.next_cursor", "param": "cursor", "records": "data"},
    ),
    "link": ("/link", {"style": "link"}),
    "page": (
        "/page",
        {
            "style": "page",
            "param": "page",
            "page_size": SIZE,
            "size_param": "per_page",
            "stop": "total",
            "total_path": "total",
            "records": "items",
        },
    ),
    "offset": (
        "/offset",
        {"style": "offset", "param": "offset", "page_size": SIZE, "size_param": "limit"},
    ),
    "short": (
        "/short",
        {"style": "page", "param": "page", "start": 0, "page_size": SIZE, "stop": "short"},
    ),
}
PAGES = {"next": 4, "cursor": 4, "link": 4, "page": 4, "offset": 5, "short": 4}


def feeds(server: PagedServer, styles: list[str]) -> tuple[SupplierSpec, ...]:
    feed_list = [
        {
            "kind": "inventory_snapshot",
            "format": "json",
            "urls": [server.base + PAGINATION[s][0]],
            "pagination": PAGINATION[s][1],
        }
        for s in styles
    ]
    doc = {"defaults": dict(QUICK), "suppliers": [{"id": "P", "feeds": feed_list}]}
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers


async def _rows(sink: MemorySink) -> list[tuple[str, str]]:
    return [(r["warehouse_id"], r["sku"]) for r in await sink.table_rows("inventory_positions")]


def _assert_exactly(rows: list[tuple[str, str]], styles: list[str]) -> None:
    """Nothing lost, nothing duplicated, nothing unexpected."""
    expected = {(f"{s}-{n}", f"SKU-{i}") for s in styles for n in range(DOCS) for i in range(ITEMS)}
    assert len(rows) == len(set(rows)), "duplicated"
    assert set(rows) == expected


@pytest.mark.parametrize("style", list(PAGINATION))
async def test_every_page_of_every_style_loads_once(server: PagedServer, style: str) -> None:
    """Each style walks to its last page and stops; every page is its own ledger row."""
    suppliers = feeds(server, [style])
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": PAGES[style]}
    _assert_exactly(await _rows(sink), [style])
    assert set(server.requests.values()) == {1}  # no page fetched twice
    assert len(server.requests) == PAGES[style]


async def test_all_styles_together_share_the_run(server: PagedServer) -> None:
    """Paged feeds of every style run side by side within one run's limits."""
    styles = list(PAGINATION)
    suppliers = feeds(server, styles)
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": sum(PAGES.values())}
    _assert_exactly(await _rows(sink), styles)
    keys = {r.endpoint.key for r in await sink.endpoints(summary.run_id)}
    assert any(k.endswith("#page=2") for k in keys)


async def test_resume_continues_after_the_last_loaded_page(server: PagedServer) -> None:
    """Page 3 fails for good; resume fetches from page 3 on, never pages 1 and 2 again."""
    server.broken.add(("next", 2))
    suppliers = feeds(server, ["next", "cursor"])
    sink = MemorySink()
    first = await run(suppliers, sink, suppliers[0].config)
    assert first.outcomes == {"loaded": 2 + 4, "failed": 1}
    assert server.requests["next", 2] == 3  # retried within the run, then given up
    server.broken.clear()
    second = await run(suppliers, sink, suppliers[0].config, RunOptions(run_id=first.run_id))
    assert second.outcomes == {"loaded": 8}
    assert server.requests["next", 0] == 1
    assert server.requests["next", 1] == 1
    assert server.requests["cursor", 0] == 1  # a finished feed is not walked again
    _assert_exactly(await _rows(sink), ["next", "cursor"])
    keys = [f"P|inventory_snapshot|{server.base}{PAGINATION[s][0]}" for s in ("next", "cursor")]
    marks = await sink.get_page_marks(first.run_id, keys)
    assert {m.next_url for m in marks.values()} == {None}  # both feeds walked to the end
    assert sorted(m.next_index for m in marks.values()) == [5, 5]


async def test_a_rerun_writes_only_the_pages_that_changed(server: PagedServer) -> None:
    """Every page is fetched again (its body names the next page), but a page identical to
    the one last loaded is unchanged: no decode, no write; a changed page loads whole."""
    styles = ["next", "cursor", "link"]
    suppliers = feeds(server, styles)
    sink = MemorySink()
    first = await run(suppliers, sink, suppliers[0].config)
    assert first.outcomes == {"loaded": 12}
    second = await run(suppliers, sink, suppliers[0].config)
    assert second.outcomes == {"unchanged": 12}
    assert set(server.requests.values()) == {2}  # walked to the end, once per run
    server.as_of = "2026-11-28T08:00:00Z"  # the next stock count: every page changes
    third = await run(suppliers, sink, suppliers[0].config)
    assert third.outcomes == {"loaded": 12}
    rows = await sink.table_rows("inventory_positions")
    for as_of in ("2026-11-28T07:45:00Z", server.as_of):  # each count stored once, whole
        _assert_exactly(
            [(r["warehouse_id"], r["sku"]) for r in rows if r["as_of"] == as_of], styles
        )
    assert len(rows) == 2 * len(styles) * DOCS * ITEMS
    walked = {(r.endpoint.key, r.outcome.value) for r in await sink.endpoints(second.run_id)}
    assert len(walked) == 12  # one ledger row per page of the second run
    assert {o for _, o in walked} == {"unchanged"}


def test_link_header_next_target() -> None:
    """rel="next" is found among several links and rel values."""
    header = '<https://a/x?p=1>; rel="prev", <https://a/x?p=3>; rel="next last"'
    assert link_next({"link": header}) == "https://a/x?p=3"
    assert link_next({"Link": '<https://a/x?p=1>; rel="prev"'}) is None
    assert link_next({}) is None


@pytest.mark.parametrize(
    ("pagination", "key"),
    [
        ({"style": "sideways"}, "style"),
        ({"style": "cursor", "path": "next"}, "param"),
        ({"style": "offset", "param": "offset"}, "page_size"),
        ({"style": "page", "param": "p", "stop": "total"}, "total_path"),
        ({"style": "page", "param": "p", "max_pages": 0}, "max_pages"),
    ],
)
def test_bad_pagination_names_file_line_and_key(pagination: dict[str, Any], key: str) -> None:
    """A wrong pagination mapping is a ConfigError naming the key."""
    feed = {
        "kind": "inventory_snapshot",
        "format": "json",
        "urls": ["https://x.test/a"],
        "pagination": pagination,
    }
    doc = {"suppliers": [{"id": "P", "feeds": [feed]}]}
    with pytest.raises(ConfigError) as info:
        parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {})
    assert info.value.key == f"suppliers[0].feeds[0].pagination.{key}"
    assert info.value.location.startswith("feeds.yaml:")


@pytest.mark.parametrize("style", STYLES)
async def test_simulator_serves_every_paging_style(style: str) -> None:
    """The sim's paged views of its JSON endpoints load exactly the fleet's ground truth."""
    spec = fleet_spec(6, formats=("json",), records=40)  # up to ten documents an endpoint
    async with SupplierFleet(spec) as fleet:
        doc = paged_feeds_document(fleet, style, defaults=QUICK)
        suppliers = parse_feeds(yaml.safe_dump(doc), "fleet.yaml", {}).suppliers
        sink = MemorySink()
        summary = await run(suppliers, sink, suppliers[0].config)
        rows = await assert_rows_match(sink, fleet.expected())
    assert rows > 0
    assert summary.outcomes == {"loaded": summary.endpoints}
    documents = sum(len(e.documents) for e in spec.endpoints)
    extra = 6 if style == "offset" else 0  # offset ends on an empty page
    assert summary.endpoints == documents + extra  # one document a page
