"""The views on SQLite and PostgreSQL: ``inventory_current`` against a model of docs/contract.md §6
plus the rule "per (supplier, warehouse) the latest as_of wins"; ``in_transit`` and
``ack_exceptions`` on documents that do and do not belong in them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from supplyfeed._models import DocKind, PoAck, PoAckLine, ShipNotice, ShipNoticeLine
from supplyfeed._sink.base import Sink

from .helpers import T1, T2, deliver, part, view

Key = tuple[str, dt.datetime, str]  # warehouse, as_of, source
H = dt.timedelta(hours=1)

# (source, warehouse, as_of, issued_at, items): each step one delivery, in order.
STEPS: list[tuple[str, str, dt.datetime, dt.datetime, dict[str, int]]] = [
    ("feed-a", "W01", T1, T1, {"A1": 1, "A2": 2}),
    ("feed-b", "W01", T1, T1, {"B1": 3}),  # a second part of the same snapshot: adds up
    ("feed-a", "W02", T1, T1, {"A1": 7}),
    ("feed-a", "W01", T1, T1 + H, {"A1": 5}),  # a correction replaces A's part whole
    ("feed-a", "W01", T1, T1 - H, {"A1": 9, "A2": 9}),  # a late older version: stale
    ("feed-b", "W01", T2, T2, {"B1": 4, "B2": 1}),  # a new as_of: the latest wins
    ("feed-a", "W01", T1, T1 + 2 * H, {"A1": 6}),  # history at the old as_of: not current
    ("feed-a", "W01", T2, T2, {"A1": 8}),  # the new snapshot's other part arrives
]


def model(steps: list[tuple[str, str, dt.datetime, dt.datetime, dict[str, int]]]) -> Any:
    """What inventory_current must hold: each source's part is its newest version; the
    parts of each warehouse's latest as_of add up."""
    parts: dict[Key, tuple[dt.datetime, dict[str, int]]] = {}
    for source, wh, as_of, issued, items in steps:
        held = parts.get((wh, as_of, source))
        if held is None or issued >= held[0]:
            parts[(wh, as_of, source)] = (issued, items)
    latest = {wh: max(a for w, a, _ in parts if w == wh) for wh, _, _ in parts}
    return {
        (wh, sku): (qty, latest[wh].strftime("%Y-%m-%dT%H:%M:%S"))
        for (wh, as_of, _), (_, items) in parts.items()
        if as_of == latest[wh]
        for sku, qty in items.items()
    }


def current(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, str]]:
    keys = [(r["warehouse_id"], r["sku"]) for r in rows]
    assert len(keys) == len(set(keys)), "one row per (supplier, warehouse, sku)"
    return {(r["warehouse_id"], r["sku"]): (r["on_hand"], str(r["as_of"])[:19]) for r in rows}


async def test_inventory_current_follows_the_model_step_by_step(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """After every delivery (parts, a correction, a late older version, new as_of values)
    the view holds exactly the model's lines, with the as_of and source URL of each."""
    for n, (source, wh, as_of, issued, items) in enumerate(STEPS, 1):
        doc = part(wh, as_of, items, issued=issued)
        await deliver(sink, f"run-{n}", source, [doc], DocKind.INVENTORY_SNAPSHOT)
        rows = await view(sink_url(), "inventory_current")
        assert current(rows) == model(STEPS[:n]), f"after step {n}"
        assert all(r["source_url"].endswith(r["source"]) for r in rows)
    assert current(rows)[("W01", "B2")] == (1, "2026-11-28T07:00:00")


def asn(number: str, ship: dt.date | None, expected: dt.date | None) -> ShipNotice:
    line = ShipNoticeLine(line_seq=1, po_number="PO-1", sku=f"SKU-{number}", shipped_qty=4)
    return ShipNotice(
        supplier_id="SUP", asn_number=number, ship_date=ship, expected_delivery=expected,
        issued_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), lines=[line],
    )  # fmt: skip


async def test_in_transit_keeps_future_deliveries_and_recent_undated_shipments(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """Expected today or later: in transit; no expected date: in transit if shipped
    within 14 days; delivered yesterday or shipped 15 days ago without a date: not."""
    today = dt.datetime.now(dt.UTC).date()
    day = dt.timedelta(days=1)
    notices = [
        asn("TODAY", today - 3 * day, today),
        asn("LATER", today, today + 5 * day),
        asn("RECENT", today - 14 * day, None),
        asn("ARRIVED", today - 3 * day, today - day),
        asn("OLD", today - 15 * day, None),
        asn("UNKNOWN", None, None),
    ]
    await deliver(sink, "run-asn", "asn-feed", notices, DocKind.SHIP_NOTICE)
    rows = await view(sink_url(), "in_transit")
    assert sorted(r["asn_number"] for r in rows) == ["LATER", "RECENT", "TODAY"]
    assert {r["quantity"] for r in rows} == {4}


def ack_line(n: int, ordered: int, acked: int, status: str) -> PoAckLine:
    return PoAckLine(
        line_number=str(n), sku=f"SKU-{n}", ordered_qty=ordered, acked_qty=acked,
        line_status=status, promised_date=dt.date(2026, 12, 1),
    )  # fmt: skip


async def test_ack_exceptions_name_each_reason_and_skip_plain_acceptances(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """Backordered, rejected, another quantity and accepted-with-changes lines are
    exceptions with their reason; a line accepted as ordered is not."""
    lines = [
        ack_line(1, 10, 10, "accepted"),
        ack_line(2, 10, 0, "backordered"),
        ack_line(3, 10, 0, "rejected"),
        ack_line(4, 10, 6, "accepted"),
        ack_line(5, 10, 10, "accepted_with_changes"),
    ]
    ack = PoAck(supplier_id="SUP", po_number="PO-1", ack_number="A-1", lines=lines)
    await deliver(sink, "run-ack", "ack-feed", [ack], DocKind.PO_ACK)
    rows = await view(sink_url(), "ack_exceptions")
    assert {r["line_number"]: r["reason"] for r in rows} == {
        "2": "backordered",
        "3": "rejected",
        "4": "quantity_changed",
        "5": "changed",
    }
