"""The run-end rule check reads only the rows its run wrote (``live_findings(...,
run_id=)``): its findings are the whole check's findings of that run's documents, every
whole-check finding belongs to some run, and an earlier run's stored finding is neither
checked again nor lost, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from supplyfeed._config import UnitConversion
from supplyfeed._models import (
    DocKind,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    ShipNotice,
    ShipNoticeLine,
)
from supplyfeed._sink.base import Sink
from supplyfeed._sink.finding_rules import Finding, live_findings
from supplyfeed._sink.findings_store import database_checked, finding_rows, record_findings
from supplyfeed._sink.reconcile_query import Filters, open_reader

from .helpers import T1, deliver

DAY = dt.date(2026, 11, 28)


def snapshot(warehouse: str, *items: tuple[str, int, int]) -> InventorySnapshot:
    lines = [InventoryItem(sku=s, on_hand=h, available=a, uom="EA") for s, h, a in items]
    return InventorySnapshot(supplier_id="SUP", warehouse_id=warehouse, as_of=T1, items=lines)


async def load_run_a(sink: Sink, started: dt.datetime | None = None) -> None:
    """Stock of W01 (one line over), an acknowledgment of PO-1 (10 of line 1, a negative
    line 2)."""
    await deliver(sink, "run-a", "stock-a", [snapshot("W01", ("A", 1, 2), ("OK", 3, 3))],
                  DocKind.INVENTORY_SNAPSHOT, started)  # fmt: skip
    ack = PoAck(supplier_id="SUP", po_number="PO-1", ack_number="1", lines=[
        PoAckLine(line_number="1", sku="S1", ordered_qty=10, acked_qty=10, uom="EA"),
        PoAckLine(line_number="2", sku="S2", ordered_qty=5, acked_qty=-5, uom="EA"),
    ])  # fmt: skip
    await deliver(sink, "run-a", "ack", [ack], DocKind.PO_ACK, started)


async def load_run_b(sink: Sink, started: dt.datetime | None = None) -> None:
    """Stock of W02 (a negative line), an ASN shipping 12 of PO-1 line 1 (over run-a's
    acknowledgment) and delivered before it shipped."""
    await deliver(sink, "run-b", "stock-b", [snapshot("W02", ("B", -1, 0))],
                  DocKind.INVENTORY_SNAPSHOT, started)  # fmt: skip
    line = ShipNoticeLine(line_seq=1, po_number="PO-1", po_line_number="1", sku="S1",
                          shipped_qty=12, uom="EA")  # fmt: skip
    notice = ShipNotice(supplier_id="SUP", asn_number="ASN-1", ship_date=DAY,
                        expected_delivery=DAY - dt.timedelta(days=1), lines=[line])  # fmt: skip
    await deliver(sink, "run-b", "asn", [notice], DocKind.SHIP_NOTICE, started)


async def checked(url: str, run_id: str | None) -> list[Finding]:
    reader = await open_reader(url)
    try:
        return await live_findings(reader, Filters(), run_id=run_id)
    finally:
        await reader.close()


RUN_A_DOCUMENTS = {"inventory_snapshot W01 2026-11-28T06:00:00Z", "po_ack PO-1 1"}
# Either side of a PO line can tip it over: both runs wrote lines of PO-1.
OVER_SHIPPED = "po PO-1 line 1"
RUN_B_DOCUMENTS = {
    "inventory_snapshot W02 2026-11-28T06:00:00Z",
    "ship_notice ASN-1",
    OVER_SHIPPED,
}


async def test_a_runs_check_finds_what_the_whole_check_finds_in_its_documents(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    await load_run_a(sink)
    await load_run_b(sink)
    url = sink_url()
    whole = await checked(url, None)
    run_a, run_b = await checked(url, "run-a"), await checked(url, "run-b")
    a_docs, b_docs = RUN_A_DOCUMENTS | {OVER_SHIPPED}, RUN_B_DOCUMENTS
    assert {f.document for f in run_a} == a_docs
    assert {f.document for f in run_b} == b_docs
    assert run_a == [f for f in whole if f.document in a_docs]
    assert run_b == [f for f in whole if f.document in b_docs]
    assert {f.key for f in run_a} | {f.key for f in run_b} == {f.key for f in whole}
    assert len(whole) == 5
    assert {f.rule for f in whole} == {
        "available_exceeds_on_hand", "negative_quantity", "shipped_exceeds_acknowledged",
        "delivery_before_ship",
    }  # fmt: skip
    assert await checked(url, "run-none") == []


async def test_an_earlier_runs_findings_stay_stored_and_are_not_checked_again(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """Each run checked at its end, as ``Runner.run`` does."""
    url = sink_url()
    await load_run_a(sink)
    assert (await record_findings(url, "run-a")).new == 2
    await load_run_b(sink)
    assert (await record_findings(url, "run-b")).new == 3
    assert (await record_findings(url, "run-b")).new == 0  # a rerun adds nothing twice
    reader = await open_reader(url)
    try:
        rows = await reader.fetch("SELECT document, run_id FROM sf_findings", [])
    finally:
        await reader.close()
    by_run = {(r["document"], r["run_id"]) for r in rows}
    assert by_run == {(d, "run-a") for d in RUN_A_DOCUMENTS} | {
        ("inventory_snapshot W02 2026-11-28T06:00:00Z", "run-b"),
        ("ship_notice ASN-1", "run-b"),
        (OVER_SHIPPED, "run-b"),
    }
    assert len(rows) == 5
    assert (await record_findings(url, "run-a")).new == 0  # its findings are all stored


async def test_a_fresh_databases_first_run_is_checked_run_scoped_with_the_whole_checks_findings(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """No other run wrote a document: the check reads only run-a's rows (the whole check
    would read the same ones, slower) and stores exactly what the whole check finds. Once
    run-b's documents are in and run-a's summary never said "checked", run-b's check
    reads the whole database again."""
    url = sink_url()
    await load_run_a(sink)
    whole = await checked(url, None)
    first = await record_findings(url, "run-a")
    assert (first.scope, first.checked, first.new) == ("run", True, len(whole))
    assert {f.key for f in whole} == await stored_keys(url)
    await load_run_b(sink)
    second = await record_findings(url, "run-b")
    assert (second.scope, second.new) == ("database", 3)


async def stored_keys(url: str) -> set[tuple[str, str, str, str]]:
    reader = await open_reader(url)
    try:
        rows = await reader.fetch("SELECT rule, supplier_id, document, line FROM sf_findings", [])
    finally:
        await reader.close()
    return {(r["rule"], r["supplier_id"], r["document"], r["line"]) for r in rows}


async def shown(url: str, units: Sequence[UnitConversion] = ()) -> tuple[bool, list[Finding]]:
    """Whether the database is checked, and what ``reconcile`` shows (``finding_rows``)."""
    reader = await open_reader(url)
    try:
        return await database_checked(reader), [
            Finding(**{k: r[k] for k in ("rule", "severity", "supplier_id", "document", "detail")},
                    line="", sku=None, warehouse_id=None)
            for r in await finding_rows(reader, Filters(), units)
        ]  # fmt: skip
    finally:
        await reader.close()


async def test_reconcile_shows_the_stored_findings_of_a_checked_database_and_checks_the_rest_live(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """Once the latest run left the database checked, ``reconcile`` reads the stored
    findings instead of checking every row again: the same findings. A run that wrote
    rows and did not finish (it crashed before its check) leaves the database unchecked,
    and its rows are checked live. The uom tables, which a run does not carry, are always
    checked live."""
    url = sink_url()
    hour = dt.timedelta(hours=1)
    await load_run_a(sink, T1)
    assert (await record_findings(url, "run-a")).new == 2
    await sink.finish_run("run-a", "finished", {"findings_checked": True})
    await load_run_b(sink, T1 + hour)
    unchecked, live_b = await shown(url)
    assert not unchecked  # run-b is the latest, and says nothing
    assert (await record_findings(url, "run-b")).new == 3
    await sink.finish_run("run-b", "finished", {"findings_checked": True})
    is_checked, stored = await shown(url)
    assert is_checked
    assert [(f.rule, f.document) for f in stored] == [(f.rule, f.document) for f in live_b]
    assert len(stored) == 5
    # run-c crashes after loading a negative line of W03: shown, though not stored.
    await deliver(sink, "run-c", "stock-c", [snapshot("W03", ("C", -2, 0))],
                  DocKind.INVENTORY_SNAPSHOT, T1 + 2 * hour)  # fmt: skip
    after_crash, found = await shown(url)
    assert not after_crash
    assert {f.document for f in found} - {f.document for f in stored} == {
        "inventory_snapshot W03 2026-11-28T06:00:00Z"
    }
    await sink.finish_run("run-c", "interrupted", {"findings_checked": False})
    assert (await shown(url))[1] == found
    # A feeds file's tables that know only CA: every EA line is in an unknown unit.
    assert (await record_findings(url, "run-c")).new == 1
    await sink.finish_run("run-c", "finished", {"findings_checked": True})
    units = [UnitConversion(supplier_id="", from_uom="CA", to_uom="PK", factor=2)]
    is_checked, with_units = await shown(url, units)
    assert is_checked
    assert [f.rule for f in with_units].count("unknown_uom") == 3  # W01, W02, W03
    assert len(with_units) == len(found) + 3


async def test_the_rules_checked_in_two_halves_find_what_one_connection_finds(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """``beside``: the run-end check's second connection. The same findings, in the same
    order, for the whole database and for each run."""
    url = sink_url()
    await load_run_a(sink)
    await load_run_b(sink)
    reader, beside = await open_reader(url), await open_reader(url)
    try:
        for run_id in (None, "run-a", "run-b"):
            alone = await live_findings(reader, Filters(), run_id=run_id)
            halves = await live_findings(reader, Filters(), run_id=run_id, beside=beside)
            assert halves == alone, run_id
            assert len(alone) == {None: 5, "run-a": 3, "run-b": 3}[run_id]  # PO-1 in both
    finally:
        await reader.close()
        await beside.close()
