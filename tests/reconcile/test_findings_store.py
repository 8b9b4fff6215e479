"""Findings kept in ``sf_findings``: the rule "a warehouse whose part went missing from a
delivery", a rerun that adds nothing twice, stored + live shown once each, a run that
counts its findings in the summary, and a schema-2 database made before the table, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from rich.console import Console

from supplyfeed._cli.display import print_summary
from supplyfeed._cli.main import main
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._models import Document, InventoryItem, InventorySnapshot
from supplyfeed._run.pipeline import Runner
from supplyfeed._sink.base import Outcome, RunRecord, Sink
from supplyfeed._sink.factory import open_sink
from supplyfeed._sink.findings_store import finding_rows, record_findings
from supplyfeed._sink.reconcile_query import Filters, open_reader

from ..sink.helpers import forget_schema_mark, run_sql, unit
from ..supplier.helpers import QUICK
from .helpers import T1, T2, part, view

START = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


async def deliver_run(
    sink: Sink, run: int, deliveries: Sequence[tuple[str, Sequence[Document]]]
) -> None:
    """Run ``run`` (started ``run`` hours after START) delivers each (source, documents)."""
    run_id = f"run-{run}"
    started = START + dt.timedelta(hours=run)
    units = [unit(source, docs, run_id=run_id, body=f"{source}-{run}".encode())
             for source, docs in deliveries]  # fmt: skip
    record = RunRecord(run_id=run_id, started_at=started, status="running", feeds="test")
    await sink.start_run(record, [u.record.endpoint for u in units])
    for final in await sink.load(units):
        assert final.outcome is Outcome.LOADED, final.error_message


async def rules(url: str, filters: Filters | None = None) -> list[tuple[str, str, str]]:
    reader = await open_reader(url)
    try:
        rows = await finding_rows(reader, filters or Filters())
    finally:
        await reader.close()
    return [(r["rule"], r["document"], r["detail"]) for r in rows]


async def test_a_warehouse_missing_from_a_sources_latest_delivery_is_found(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """feed-a's second delivery has W01 but not W02: found once, naming both runs. feed-b
    delivers both warehouses again, feed-c reports W06 unchanged (its part is not written
    again, so it cannot be told from missing: nothing is said), feed-d delivered once."""
    await deliver_run(sink, 1, [
        ("feed-a", [part("W01", T1, {"A": 1}), part("W02", T1, {"A": 2})]),
        ("feed-b", [part("W03", T1, {"A": 1}), part("W04", T1, {"A": 2})]),
        ("feed-c", [part("W05", T1, {"A": 1}), part("W06", T1, {"A": 2})]),
        ("feed-d", [part("W07", T1, {"A": 1})]),
    ])  # fmt: skip
    await deliver_run(sink, 2, [
        ("feed-a", [part("W01", T2, {"A": 3})]),
        ("feed-b", [part("W03", T2, {"A": 1}), part("W04", T2, {"A": 2})]),
        ("feed-c", [part("W05", T2, {"A": 1}), part("W06", T1, {"A": 2})]),
    ])  # fmt: skip
    assert await rules(sink_url()) == [
        ("part_missing", "inventory_snapshot W02 2026-11-28T06:00:00Z",
         "feed-a: its latest delivery (run run-2) has no part for warehouse W02; the one "
         "before (run run-1) reported it as of 2026-11-28T06:00:00Z"),
    ]  # fmt: skip
    assert await rules(sink_url(), Filters(warehouse="W01")) == []
    assert await rules(sink_url(), Filters(sku="A")) == []  # about a warehouse, not a SKU
    # feed-a's next delivery brings W02 back: the live finding goes.
    await deliver_run(sink, 3, [("feed-a", [part("W01", T2, {"A": 3}), part("W02", T2, {})])])
    assert await rules(sink_url()) == []


async def test_a_paged_sources_pages_are_one_delivery_for_the_missing_part_rule(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """A paged feed's pages (``feed-p``, ``feed-p#page=2``) are one source: a warehouse
    reported on page 2 last time and on no page now is missing; both pages again is not."""
    await deliver_run(sink, 1, [
        ("feed-p", [part("W01", T1, {"A": 1})]),
        ("feed-p#page=2", [part("W02", T1, {"A": 2})]),
        ("feed-q", [part("W03", T1, {"A": 1})]),
        ("feed-q#page=2", [part("W04", T1, {"A": 2})]),
    ])  # fmt: skip
    await deliver_run(sink, 2, [
        ("feed-p", [part("W01", T2, {"A": 3})]),
        ("feed-q", [part("W03", T2, {"A": 1})]),
        ("feed-q#page=2", [part("W04", T2, {"A": 2})]),
    ])  # fmt: skip
    found = await rules(sink_url())
    assert [(rule, doc) for rule, doc, _ in found] == [
        ("part_missing", "inventory_snapshot W02 2026-11-28T06:00:00Z")
    ]
    assert found[0][2].startswith("feed-p: its latest delivery (run run-2)")


def over(sku: str, as_of: dt.datetime = T1) -> InventorySnapshot:
    """A snapshot of W01 with one line whose available exceeds on hand."""
    item = InventoryItem(sku=sku, on_hand=1, available=2)
    return InventorySnapshot(supplier_id="SUP", warehouse_id="W01", as_of=as_of, items=[item])


async def test_a_rerun_adds_nothing_twice_and_stored_findings_stay_shown(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """The first check stores the finding, the second adds none; after the stock is
    corrected the stored finding is still shown (once), and a new one is added."""
    url = sink_url()
    await deliver_run(sink, 1, [("stock", [over("A")])])
    assert (await record_findings(url, "run-1")).new == 1
    assert (await record_findings(url, "run-1b")).new == 0
    await deliver_run(sink, 2, [("stock", [over("B", T2)])])  # A's snapshot is history now
    assert [rule for rule, _, _ in await rules(url)] == ["available_exceeds_on_hand"] * 2
    assert (await record_findings(url, "run-2")).new == 1
    assert await stored(url) == [("A", "run-1"), ("B", "run-2")]
    assert [d for _, _, d in await rules(url, Filters(sku="A"))] == [
        "SKU A: available 2 > on_hand 1"
    ]


async def stored(url: str) -> list[tuple[str, str]]:
    reader = await open_reader(url)
    try:
        rows = await reader.fetch("SELECT sku, run_id FROM sf_findings ORDER BY sku", [])
    finally:
        await reader.close()
    return [(r["sku"], r["run_id"]) for r in rows]


async def test_a_database_made_before_sf_findings_gets_it_at_open(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """Schema 2 without the table (as made before it existed): the next open adds it, the
    data stays, and findings are stored; no version step, so nothing is refused."""
    url = sink_url()
    await deliver_run(sink, 1, [("stock", [over("A")])])
    await sink.close()
    await _drop_findings(url)
    reopened = open_sink(url)
    await reopened.open()
    try:
        assert (await record_findings(url, "run-1")).new == 1  # run-1 wrote the rows
        assert await stored(url) == [("A", "run-1")]
    finally:
        await reopened.close()
        await sink.open()  # the fixture closes it


async def _drop_findings(url: str) -> None:
    await run_sql(url, "DROP TABLE sf_findings")
    await forget_schema_mark(url)  # the build before sf_findings left no mark


# -- a whole run ------------------------------------------------------------------------------


class StockServer:
    """``/stock``: a canonical JSON inventory payload, replaced between runs."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> StockServer:
        app = web.Application()
        app.router.add_get("/stock", self._stock)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/stock"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _stock(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self.docs), content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[StockServer]:
    async with StockServer() as s:
        yield s


def warehouse(wh: str, as_of: str, *items: tuple[str, int, int]) -> dict[str, Any]:
    lines = [{"sku": s, "on_hand": q, "available": a} for s, q, a in items]
    return {"supplier_id": "SUP", "warehouse_id": wh, "as_of": as_of, "items": lines}


async def test_each_run_counts_the_findings_it_added(
    server: StockServer,
    sink: Sink,
    sink_url: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run 1 finds W01's available > on hand; run 2 (the same body) adds nothing; run 3
    reports W01 alone, so W02's part went missing: one more. The summary's ``findings``
    says so each time (and report --json, the last run's), and reconcile shows the two,
    once each."""
    feed = {"kind": "inventory_snapshot", "format": "json", "urls": [server.url]}
    doc = {"defaults": {**QUICK, "conditional_requests": False},
           "suppliers": [{"id": "SUP", "feeds": [feed]}]}  # fmt: skip
    feeds = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {})
    first = "2026-11-28T06:00:00Z"
    server.docs = [warehouse("W01", first, ("A", 1, 2)), warehouse("W02", first, ("B", 1, 1))]
    counts = []
    for step in range(3):
        if step == 2:
            server.docs = [warehouse("W01", "2026-11-28T07:00:00Z", ("A", 1, 1))]
        summary = await Runner(feeds.suppliers, sink, feeds.defaults).run()
        assert summary.ok
        assert summary.warnings == []
        # The run's end also kept each latest snapshot's positions for reconcile --json.
        assert await partitions(sink_url(), "sf_position_json") == await partitions(
            sink_url(), "inventory_latest"
        )
        counts.append(summary.to_dict()["findings"])
        shown = io.StringIO()
        print_summary(Console(file=shown, width=120), summary.to_dict())
        assert ("rule findings" in shown.getvalue()) == (counts[-1] > 0)
    assert counts == [1, 0, 1]
    assert len(await partitions(sink_url(), "sf_position_json")) == 2  # W01 07:00, W02 06:00
    assert await asyncio.to_thread(main, ["report", "--db", sink_url(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == 1  # the last run's
    assert [rule for rule, _, _ in await rules(sink_url())] == [
        "available_exceeds_on_hand",
        "part_missing",
    ]


async def partitions(url: str, table: str) -> list[tuple[str, str, str]]:
    rows = await view(url, table)
    return sorted((r["supplier_id"], r["warehouse_id"], str(r["as_of"])) for r in rows)


async def _forget_findings(url: str) -> None:
    reader = await open_reader(url, write=True)
    try:
        await reader.execute_many("DELETE FROM sf_findings", [[]])
    finally:
        await reader.close()


async def test_a_run_that_wrote_nothing_checks_nothing_unless_the_run_before_was_unchecked(
    server: StockServer, sink: Sink, sink_url: Callable[[], str]
) -> None:
    """The findings are forgotten after run 1 so that a check shows by adding them again.
    Run 2 (the same body: no document written, run 1 checked) checks nothing and adds
    nothing; after a run that crashed (never finished, so never checked), run 3 with the
    same body checks the whole database again and adds the finding back."""
    feed = {"kind": "inventory_snapshot", "format": "json", "urls": [server.url]}
    doc = {"defaults": {**QUICK, "conditional_requests": False},
           "suppliers": [{"id": "SUP", "feeds": [feed]}]}  # fmt: skip
    feeds = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {})
    server.docs = [warehouse("W01", "2026-11-28T06:00:00Z", ("A", 1, 2))]

    async def run() -> tuple[int, bool, int]:
        summary = (await Runner(feeds.suppliers, sink, feeds.defaults).run()).to_dict()
        assert summary["ok"], summary
        return summary["findings"], summary["findings_checked"], summary["records_loaded"]

    assert await run() == (1, True, 1)
    await _forget_findings(sink_url())
    assert await run() == (0, True, 0)  # unchanged: not checked again
    crashed = RunRecord(run_id="crashed", started_at=dt.datetime.now(dt.UTC),
                        status="running", feeds="test")  # fmt: skip
    await sink.start_run(crashed, [])
    assert await run() == (1, True, 0)  # after an unchecked run: the whole check again
    assert await stored(sink_url()) == [("A", (await sink.get_run()).run_id)]  # type: ignore[union-attr]
