"""Generic XML through a FieldMapping: paths, header fields, grouping and typed errors."""

from __future__ import annotations

import datetime as dt

import pytest

from supplyfeed import (
    DocKind,
    Document,
    FieldMapping,
    InventorySnapshot,
    PayloadError,
    PoAck,
    ShipNotice,
)
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.registry import get_decoder
from supplyfeed._formats.xml_mapped import decode
from supplyfeed._sink.schema import version_of

STOCK = b"""<?xml version="1.0"?>
<Stock generated="2026-03-02">
  <Header><Warehouse code="W01"/><AsOf>2026-03-02T06:00:00Z</AsOf></Header>
  <Item sku="A-1"><Qty uom="CS">12</Qty><Free>10</Free></Item>
  <Item sku="B &amp; 2"><Qty>3.5</Qty></Item>
  <Item sku="C-3"><Qty>  7 </Qty><Free/></Item>
</Stock>"""

STOCK_MAPPING = FieldMapping(
    records="Stock/Item",
    fields={
        "warehouse_id": "$.Header/Warehouse/@code",
        "as_of": "$.Header/AsOf",
        "sku": "@sku",
        "on_hand": "Qty",
        "available": "Free",
        "uom": "Qty/@uom",
    },
)


def run(data: bytes, kind: DocKind, mapping: FieldMapping | None, **options: int) -> list[Document]:
    ctx = DecodeContext(kind=kind, supplier_id="SUP1", mapping=mapping, **options)  # type: ignore[arg-type]
    return list(decode(Body.from_bytes(data), ctx))


def test_records_and_header_paths_map_onto_a_snapshot() -> None:
    """Record-relative text and attributes, and $.-paths from the header, fill the snapshot."""
    [snapshot] = run(STOCK, DocKind.INVENTORY_SNAPSHOT, STOCK_MAPPING)
    assert isinstance(snapshot, InventorySnapshot)
    assert (snapshot.supplier_id, snapshot.warehouse_id) == ("SUP1", "W01")
    assert snapshot.as_of == dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)
    assert [(i.sku, i.on_hand, i.available, i.uom) for i in snapshot.items] == [
        ("A-1", 12, 10, "CS"),
        ("B & 2", 3.5, None, "EA"),
        ("C-3", 7, None, "EA"),
    ]


def test_dotted_paths_and_relative_records_work_too() -> None:
    """'Header.AsOf' equals 'Header/AsOf'; a records path may start below the root."""
    fields = {k: v.replace("/", ".") for k, v in STOCK_MAPPING.fields.items()}
    mapping = FieldMapping(records="Item", fields=fields)
    [snapshot] = run(STOCK, DocKind.INVENTORY_SNAPSHOT, mapping)
    assert isinstance(snapshot, InventorySnapshot)
    assert len(snapshot.items) == 3


def test_constants_fill_unmapped_fields() -> None:
    """Constants give the warehouse when the payload does not."""
    fields = {k: v for k, v in STOCK_MAPPING.fields.items() if k != "warehouse_id"}
    mapping = FieldMapping(records="Stock/Item", fields=fields, constants={"warehouse_id": "K9"})
    [snapshot] = run(STOCK, DocKind.INVENTORY_SNAPSHOT, mapping)
    assert isinstance(snapshot, InventorySnapshot)
    assert snapshot.warehouse_id == "K9"


ACK_LINES = b"""<Acks>
  <Line po="PO-1" ack="A-1" status="accepted"><No>1</No><Sku>X</Sku><Qty>5</Qty></Line>
  <Line po="PO-2" ack="A-9" status="rejected"><No>1</No><Sku>Y</Sku><Qty>0</Qty></Line>
  <Line po="PO-1" ack="A-1" status="accepted"><No>2</No><Sku>Z</Sku><Qty>6</Qty>
    <Promised>2026-04-01</Promised></Line>
  <Line po="PO-3" ack="A-3" status="accepted"/>
</Acks>"""

ACK_MAPPING = FieldMapping(
    records="Acks/Line",
    fields={
        "po_number": "@po",
        "ack_number": "@ack",
        "status": "@status",
        "line_number": "No",
        "sku": "Sku",
        "acked_qty": "Qty",
        "promised_date": "Promised",
    },
)


def test_lines_group_by_natural_key_in_first_seen_order() -> None:
    """PO acks group by (po_number, ack_number) even when their lines interleave."""
    acks = run(ACK_LINES, DocKind.PO_ACK, ACK_MAPPING)
    assert all(isinstance(a, PoAck) for a in acks)
    summary = [
        (a.po_number, a.ack_number, [(ln.line_number, ln.sku) for ln in a.lines])
        for a in acks
        if isinstance(a, PoAck)
    ]
    assert summary == [
        ("PO-1", "A-1", [("1", "X"), ("2", "Z")]),
        ("PO-2", "A-9", [("1", "Y")]),
        ("PO-3", "A-3", []),  # a record without line fields: a header-only document
    ]
    first = acks[0]
    assert isinstance(first, PoAck)
    assert first.lines[1].promised_date == dt.date(2026, 4, 1)


def test_header_only_ship_notice_from_root_fields() -> None:
    """No records at all, but $.-header fields: one ship notice without lines."""
    data = b'<Asn number="ASN-7"><Carrier>UPSN</Carrier><Lines/></Asn>'
    mapping = FieldMapping(
        records="Asn/Lines/Line",
        fields={"asn_number": "$.@number", "carrier": "$.Carrier", "line_seq": "Seq"},
    )
    [notice] = run(data, DocKind.SHIP_NOTICE, mapping)
    assert isinstance(notice, ShipNotice)
    assert (notice.asn_number, notice.carrier, notice.lines) == ("ASN-7", "UPSN", [])


def test_document_root_can_be_the_single_record() -> None:
    """records naming the root alone makes the whole document one record."""
    data = b'<Notice asn="N-1"><Seq>1</Seq><Sku>S</Sku></Notice>'
    mapping = FieldMapping(
        records="Notice", fields={"asn_number": "@asn", "line_seq": "Seq", "sku": "Sku"}
    )
    [notice] = run(data, DocKind.SHIP_NOTICE, mapping)
    assert isinstance(notice, ShipNotice)
    assert [(ln.line_seq, ln.sku) for ln in notice.lines] == [(1, "S")]


def test_parts_respect_max_items_per_part() -> None:
    """A big snapshot comes in consecutive parts of at most max_items_per_part items."""
    items = b"".join(b'<Item sku="S%d"><Qty>1</Qty></Item>' % n for n in range(7))
    data = STOCK.split(b"<Item", 1)[0] + items + b"</Stock>"
    parts = run(data, DocKind.INVENTORY_SNAPSHOT, STOCK_MAPPING, max_items_per_part=3)
    assert [len(p.items) for p in parts if isinstance(p, InventorySnapshot)] == [3, 3, 1]


def test_missing_mapping_is_explained() -> None:
    """Generic XML without a mapping is refused with a message saying one is required."""
    with pytest.raises(PayloadError, match="needs a field mapping") as info:
        run(STOCK, DocKind.INVENTORY_SNAPSHOT, None)
    assert info.value.kind == "mapping"


def test_bad_value_names_the_record_and_field() -> None:
    """A value that does not convert is a validation error at Root/Record[n].field."""
    data = STOCK.replace(b"<Qty>3.5</Qty>", b"<Qty>lots</Qty>")
    with pytest.raises(PayloadError) as info:
        run(data, DocKind.INVENTORY_SNAPSHOT, STOCK_MAPPING)
    assert info.value.kind == "validation"
    assert info.value.where == "Stock/Item[2].on_hand"


def test_missing_required_field_is_a_validation_error() -> None:
    """A record without its document key (no warehouse) is refused, naming the record."""
    data = STOCK.replace(b'<Warehouse code="W01"/>', b"")
    with pytest.raises(PayloadError) as info:
        run(data, DocKind.INVENTORY_SNAPSHOT, STOCK_MAPPING)
    assert info.value.kind == "validation"
    assert info.value.where.startswith("Stock/Item[1]")


def test_malformed_xml_is_a_syntax_error() -> None:
    """Broken XML is a syntax PayloadError with a line and column."""
    with pytest.raises(PayloadError) as info:
        run(STOCK.replace(b"</Free>", b"</Fre>"), DocKind.INVENTORY_SNAPSHOT, STOCK_MAPPING)
    assert info.value.kind == "syntax"
    assert info.value.where.startswith("line 4, column")


def test_unusable_path_is_reported() -> None:
    """An attribute step in the middle of a path is a mapping error, not a crash."""
    mapping = FieldMapping(records="Stock/Item", fields={"sku": "@a/b"})
    with pytest.raises(PayloadError) as info:
        run(STOCK, DocKind.INVENTORY_SNAPSHOT, mapping)
    assert info.value.kind == "mapping"


def test_registry_finds_the_decoder() -> None:
    """The registry's 'xml' format is this decoder."""
    assert get_decoder("xml") is decode


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ("Stock/Items/Item", "no element Stock/Items in this payload"),
        ("Stock/Lines/Item", "no element Stock/Lines in this payload"),
        ("Stock/Item", "none of the 2 elements under Stock is a record"),
    ],
)
def test_a_records_path_that_matches_nothing_is_a_payload_error(records: str, problem: str) -> None:
    """A mapping whose records path names nothing in the payload must not load zero
    records and report success (docs/contract.md §6): the payload is quarantined, the path named."""
    data = b'<Stock wh="W1" at="2026-11-28T07:00:00Z"><Line><Sku>A</Sku></Line><Line/></Stock>'
    mapping = FieldMapping(
        records=records,
        fields={"warehouse_id": "$.@wh", "as_of": "$.@at", "sku": "Sku", "on_hand": "Qty"},
    )
    with pytest.raises(PayloadError, match="matches nothing") as info:
        run(data, DocKind.INVENTORY_SNAPSHOT, mapping)
    assert problem in str(info.value)
    assert (info.value.where, info.value.kind) == ("mapping.records", "mapping")


def test_a_mapping_may_give_a_snapshot_its_version_on_every_part() -> None:
    """issued_at and control_number map like any header field; all parts carry them."""
    data = STOCK.replace(b"<Header>", b'<Header sent="2026-03-02T06:05:00Z" seq="0042">')
    fields = dict(STOCK_MAPPING.fields, issued_at="$.Header/@sent", control_number="$.Header/@seq")
    mapping = FieldMapping(records=STOCK_MAPPING.records, fields=fields)
    parts = run(data, DocKind.INVENTORY_SNAPSHOT, mapping, max_items_per_part=2)
    assert len(parts) == 2
    assert {version_of(p) for p in parts} == {("2026-03-02T06:05:00Z", "0042")}
