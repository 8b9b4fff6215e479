"""Rule checks shown by ``reconcile``: each rule with a document that breaks it and one
that does not, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from supplyfeed._config import UnitConversion
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.edifact.documents import decode
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
from supplyfeed._sink.finding_rules import ABSURD_QUANTITY
from supplyfeed._sink.findings_store import finding_rows
from supplyfeed._sink.reconcile_query import Filters, open_reader

from .helpers import T1, deliver

DAY = dt.date(2026, 11, 28)
EVERYTHING = Filters()

# Valid GS1 numbers (GS1's and Wikipedia's examples): the check digit is the last.
UPC_A, EAN_13, EAN_8, GTIN_14 = "036000291452", "4006381333931", "96385074", "10614141000415"
SSCC = "106141411928374657"


def wrong(number: str) -> str:
    """The same number with another check digit."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def stock(on_hand: int, available: int, sku: str) -> InventoryItem:
    return InventoryItem(sku=sku, on_hand=on_hand, available=available, uom="EA")


async def findings(url: str, filters: Filters = EVERYTHING) -> set[tuple[str, str, str]]:
    reader = await open_reader(url)
    try:
        rows = await finding_rows(reader, filters)
    finally:
        await reader.close()
    return {(r["rule"], r["document"], r["detail"]) for r in rows}


async def test_each_rule_finds_its_breaker_and_passes_the_rest(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """available > on_hand, a negative or absurd quantity and a delivery before shipping
    are found once each; an equal available, zero stock, the largest sane quantity and a
    same-day delivery are not."""
    items = [
        stock(5, 7, "OVER"),
        stock(-2, 0, "NEG"),
        stock(ABSURD_QUANTITY + 1, 0, "HUGE"),
        stock(ABSURD_QUANTITY, ABSURD_QUANTITY, "LARGE"),
        stock(5, 5, "EQUAL"),
        stock(0, 0, "ZERO"),
    ]
    snap = InventorySnapshot(supplier_id="SUP", warehouse_id="W01", as_of=T1, items=items)
    await deliver(sink, "run-inv", "stock", [snap], DocKind.INVENTORY_SNAPSHOT)
    notices = [
        ShipNotice(supplier_id="SUP", asn_number="BACKWARDS", ship_date=DAY,
                   expected_delivery=DAY - dt.timedelta(days=1)),
        ShipNotice(supplier_id="SUP", asn_number="SAME-DAY", ship_date=DAY,
                   expected_delivery=DAY),
    ]  # fmt: skip
    await deliver(sink, "run-asn", "asn", notices, DocKind.SHIP_NOTICE)
    document = "inventory_snapshot W01 2026-11-28T06:00:00Z"
    assert await findings(sink_url()) == {
        ("available_exceeds_on_hand", document, "SKU OVER: available 7 > on_hand 5"),
        ("negative_quantity", document, "SKU NEG: on_hand -2, available 0"),
        ("absurd_quantity", document, "SKU HUGE: on_hand 1000000001, available 0"),
        ("delivery_before_ship", "ship_notice BACKWARDS",
         "expected 2026-11-27, shipped 2026-11-28"),
    }  # fmt: skip
    assert {rule for rule, _, _ in await findings(sink_url(), Filters(sku="OVER"))} == {
        "available_exceeds_on_hand"
    }


async def test_an_sscc_with_a_wrong_check_digit_is_found(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """An 18-digit container id is an SSCC: a wrong check digit is a finding; the right
    one (GS1's example 106141411928374657) and a container id of another shape are not."""
    containers = [SSCC, wrong(SSCC), "PALLET-1"]
    lines = [
        ShipNoticeLine(line_seq=n, sku="A", shipped_qty=1, container_id=c)
        for n, c in enumerate(containers, 1)
    ]
    notice = ShipNotice(supplier_id="SUP", asn_number="ASN-9", ship_date=DAY, lines=lines)
    await deliver(sink, "run-asn", "asn", [notice], DocKind.SHIP_NOTICE)
    assert await findings(sink_url()) == {
        ("sscc_check_digit", "ship_notice ASN-9",
         "line 2: SSCC 106141411928374658 fails its check digit"),
    }  # fmt: skip


async def test_a_unit_no_uom_table_names_is_found_only_when_there_are_tables(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """With tables naming CA and EA, stock in BX is an unknown unit (one finding per
    snapshot and unit); EA stock is not; without tables nothing is flagged."""
    items = [InventoryItem(sku=s, on_hand=1, uom=u) for s, u in (("A", "EA"), ("B", "BX"))]
    items.append(InventoryItem(sku="C", on_hand=1, uom="BX"))
    snap = InventorySnapshot(supplier_id="SUP", warehouse_id="W01", as_of=T1, items=items)
    await deliver(sink, "run-inv", "stock", [snap], DocKind.INVENTORY_SNAPSHOT)
    reader = await open_reader(sink_url())
    try:
        table = [UnitConversion("", "CA", "EA", 12)]
        found = await finding_rows(reader, EVERYTHING, table)
        assert await finding_rows(reader, EVERYTHING) == []
    finally:
        await reader.close()
    assert [(f["rule"], f["detail"]) for f in found] == [
        ("unknown_uom", "2 lines in BX, not in the uom tables")
    ]


async def test_shipping_more_than_acknowledged_is_found_per_po_line(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """Two ASNs shipping 6 + 6 of a line acknowledged for 10 are a finding; a line
    shipped as acknowledged, and one shipped in another unit, are not."""
    ack_lines = [
        PoAckLine(line_number=str(n), sku=f"S{n}", ordered_qty=10, acked_qty=10, uom="EA")
        for n in (1, 2, 3)
    ]
    ack = PoAck(supplier_id="SUP", po_number="PO-1", ack_number="1", lines=ack_lines)
    await deliver(sink, "run-ack", "ack", [ack], DocKind.PO_ACK)

    def shipped(asn: str, *lines: tuple[str, int, str]) -> ShipNotice:
        return ShipNotice(supplier_id="SUP", asn_number=asn, lines=[
            ShipNoticeLine(line_seq=i, po_number="PO-1", po_line_number=ln, sku=f"S{ln}",
                           shipped_qty=q, uom=u)
            for i, (ln, q, u) in enumerate(lines, 1)
        ])  # fmt: skip

    notices = [
        shipped("ASN-1", ("1", 6, "EA"), ("2", 10, "EA"), ("3", 2, "CA")),
        shipped("ASN-2", ("1", 6, "EA")),
    ]
    await deliver(sink, "run-asn", "asn", notices, DocKind.SHIP_NOTICE)
    assert await findings(sink_url()) == {
        ("shipped_exceeds_acknowledged", "po PO-1 line 1", "shipped 12 EA, acknowledged 10"),
    }


async def test_order_and_shipped_quantities_out_of_range_are_found(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """A negative acknowledged quantity and an absurd shipped one are found, per line; a
    zero backorder and an ordinary shipment are not."""
    lines = [
        PoAckLine(line_number="1", sku="A", ordered_qty=5, acked_qty=-5, uom="EA"),
        PoAckLine(line_number="2", sku="B", ordered_qty=5, acked_qty=0, uom="EA"),
    ]
    ack = PoAck(supplier_id="SUP", po_number="PO-7", ack_number="1", lines=lines)
    await deliver(sink, "run-ack", "ack", [ack], DocKind.PO_ACK)
    shipped = [
        ShipNoticeLine(line_seq=1, sku="A", shipped_qty=ABSURD_QUANTITY * 10),
        ShipNoticeLine(line_seq=2, sku="B", shipped_qty=3),
    ]
    notice = ShipNotice(supplier_id="SUP", asn_number="ASN-7", ship_date=DAY, lines=shipped)
    await deliver(sink, "run-asn", "asn", [notice], DocKind.SHIP_NOTICE)
    assert await findings(sink_url()) == {
        ("negative_quantity", "po_ack PO-7 1", "line 1 (SKU A): ordered 5, acknowledged -5"),
        ("absurd_quantity", "ship_notice ASN-7", "line 1 (SKU A): shipped 10000000000"),
    }


async def test_identifiers_claiming_to_be_gtins_are_checked_wherever_they_are(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """A SKU whose qualifier says GTIN (X12 UP/EN/UK, EDIFACT SRV), a codes field named
    gtin, ean or sscc, or a PIA id of type SRV is checked: wrong check digits and wrong
    lengths are found in stock, acknowledgment and ship notice lines; right ones of
    every length, and a buyer's SKU (SK) that merely looks like a GTIN, are not."""
    items = [
        InventoryItem(sku=UPC_A, on_hand=1, codes={"sku": "UP"}),
        InventoryItem(sku=wrong(EAN_13), on_hand=1, codes={"sku": "EN"}),
        InventoryItem(sku="12345", on_hand=1, codes={"sku": "UK"}),
        InventoryItem(sku=wrong(UPC_A), on_hand=1, codes={"sku": "SK"}),  # not a claim
        InventoryItem(sku="P-1", on_hand=1, codes={"ean": EAN_8}),
    ]
    snap = InventorySnapshot(supplier_id="SUP", warehouse_id="W01", as_of=T1, items=items)
    await deliver(sink, "run-inv", "stock", [snap], DocKind.INVENTORY_SNAPSHOT)
    ack_lines = [
        PoAckLine(line_number="1", sku="A", codes={"gtin": wrong(GTIN_14)}),
        PoAckLine(line_number="2", sku=GTIN_14, codes={"sku": "UK"}),
    ]
    ack = PoAck(supplier_id="SUP", po_number="PO-1", ack_number="1", lines=ack_lines)
    await deliver(sink, "run-ack", "ack", [ack], DocKind.PO_ACK)
    asn_lines = [
        ShipNoticeLine(line_seq=1, sku="A", codes={"PIA5:SRV": wrong(EAN_8)}),
        ShipNoticeLine(line_seq=2, sku="B", codes={"sscc": "10614141192837465"}),
        ShipNoticeLine(line_seq=3, sku=EAN_13, codes={"sku": "SRV", "sscc": SSCC}),
    ]
    notice = ShipNotice(supplier_id="SUP", asn_number="ASN-3", lines=asn_lines)
    await deliver(sink, "run-asn", "asn", [notice], DocKind.SHIP_NOTICE)
    snapshot = "inventory_snapshot W01 2026-11-28T06:00:00Z"
    assert await findings(sink_url()) == {
        ("gtin_check_digit", snapshot,
         f"SKU {wrong(EAN_13)}: SKU (EN) {wrong(EAN_13)} fails its check digit (a GTIN)"),
        ("gtin_check_digit", snapshot,
         "SKU 12345: SKU (UK) 12345 is not 8, 12, 13 or 14 digits (a GTIN)"),
        ("gtin_check_digit", "po_ack PO-1 1",
         f"line 1: gtin {wrong(GTIN_14)} fails its check digit (a GTIN)"),
        ("gtin_check_digit", "ship_notice ASN-3",
         f"line 1: PIA5:SRV {wrong(EAN_8)} fails its check digit (a GTIN)"),
        ("sscc_check_digit", "ship_notice ASN-3",
         "line 2: sscc 10614141192837465 is not 18 digits (an SSCC)"),
    }  # fmt: skip


DESADV = f"""UNB+UNOC:3+SUP+BUY+260302:0900+IC43'
UNH+M1+DESADV:D:96A:UN:EAN007'
BGM+351+ASN-E+9'
DTM+137:20260302090000:204'
LIN+1++{EAN_13}:SRV'
QTY+12:1'
LIN+2++{wrong(EAN_13)}:SRV'
QTY+12:1'
LIN+3++{wrong(EAN_13)}:SA'
QTY+12:1'
UNT+10+M1'
UNZ+1+IC43'
"""


async def test_an_edifact_item_number_of_type_srv_is_checked(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """The EDIFACT decoder keeps LIN03's item type as codes["sku"]: an SRV (GTIN) with a
    wrong check digit is found, a right one and a supplier's article number (SA) are not."""
    ctx = DecodeContext(kind=DocKind.SHIP_NOTICE, supplier_id="SUP")
    [notice] = list(decode(Body.from_bytes(DESADV.encode()), ctx))
    assert isinstance(notice, ShipNotice)
    assert [ln.codes.get("sku") for ln in notice.lines] == ["SRV", "SRV", "SA"]
    await deliver(sink, "run-asn", "desadv", [notice], DocKind.SHIP_NOTICE)
    assert await findings(sink_url()) == {
        ("gtin_check_digit", "ship_notice ASN-E",
         f"line 2: SKU (SRV) {wrong(EAN_13)} fails its check digit (a GTIN)"),
    }  # fmt: skip
