"""JSON and CSV decoders: canonical shapes, field mappings, errors that say where."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from supplyfeed import DocKind, FieldMapping, InventorySnapshot, PayloadError, PoAck, ShipNotice
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.registry import get_decoder, sniff_format
from supplyfeed._models import InventoryItem
from supplyfeed._sink.schema import Version, version_key, version_of
from supplyfeed.sim import get_renderer

INV = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, supplier_id="ACME")


def decode(fmt: str, data: bytes, ctx: DecodeContext = INV) -> list[object]:
    return list(get_decoder(fmt)(Body.from_bytes(data), ctx))


def test_canonical_json_inventory_from_the_spec() -> None:
    """docs/contract.md §4's example decodes without any mapping."""
    (doc,) = decode(
        "json",
        b'{"supplier_id": "SUP001", "warehouse_id": "W01", "as_of": "2026-11-28T07:45:00Z",'
        b' "items": [{"sku": "SKU-1", "on_hand": 12, "available": 10}]}',
    )
    assert isinstance(doc, InventorySnapshot)
    assert (doc.supplier_id, doc.warehouse_id) == ("SUP001", "W01")
    assert doc.as_of == dt.datetime(2026, 11, 28, 7, 45, tzinfo=dt.UTC)
    assert [(i.sku, i.on_hand, i.available, i.uom) for i in doc.items] == [("SKU-1", 12, 10, "EA")]


def test_canonical_json_array_and_supplier_from_the_feed() -> None:
    """An array of documents; a document without supplier_id takes the feed's supplier."""
    docs = decode(
        "json",
        b'[{"warehouse_id": "W1", "as_of": "2026-11-28T00:00:00Z", "items": []},'
        b' {"warehouse_id": "W2", "as_of": "2026-11-28T00:00:00Z", "items": []}]',
    )
    assert [(d.supplier_id, d.warehouse_id) for d in docs] == [("ACME", "W1"), ("ACME", "W2")]  # type: ignore[attr-defined]


def test_json_validation_error_names_the_path() -> None:
    with pytest.raises(PayloadError) as err:
        decode("json", b'{"warehouse_id": "W1", "as_of": "2026-11-28T00:00:00Z",'
               b' "items": [{"sku": "A", "on_hand": 1}, {"sku": 7, "on_hand": 1}]}')  # fmt: skip
    assert err.value.kind == "validation"
    assert err.value.where == "$.items[1].sku"


def test_json_syntax_error_names_the_byte() -> None:
    with pytest.raises(PayloadError) as err:
        decode("json", b'{"warehouse_id": "W1", "as_of": ')
    assert err.value.where.startswith("byte ")


def test_json_mapping_reads_other_shapes() -> None:
    """records path, $.-rooted header fields, nested line fields and constants."""
    mapping = FieldMapping(
        records="data.stock",
        fields={"warehouse_id": "$.loc", "as_of": "$.ts", "sku": "code", "on_hand": "q.oh"},
        constants={"uom": "CS"},
    )
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, supplier_id="ACME", mapping=mapping)
    (doc,) = decode(
        "json",
        b'{"loc": "X", "ts": "2026-11-28T07:45:00Z",'
        b' "data": {"stock": [{"code": "Z", "q": {"oh": "7"}}, {"code": "Y", "q": {"oh": 2}}]}}',
        ctx,
    )
    assert isinstance(doc, InventorySnapshot)
    assert doc.warehouse_id == "X"
    assert [(i.sku, i.on_hand, i.uom) for i in doc.items] == [("Z", 7, "CS"), ("Y", 2, "CS")]


def test_csv_canonical_groups_rows_into_documents() -> None:
    """Rows sharing a document key form one document; BOM and CRLF are fine."""
    docs = decode(
        "csv",
        b"\xef\xbb\xbfwarehouse_id,as_of,sku,on_hand,available,uom\r\n"
        b"W1,2026-11-28T07:45:00Z,A,3,2,EA\r\nW2,2026-11-28T07:45:00Z,A,1,1,EA\r\n"
        b"W1,2026-11-28T07:45:00Z,B,5,,\r\n",
    )
    by_wh = {d.warehouse_id: d for d in docs if isinstance(d, InventorySnapshot)}
    assert sorted(by_wh) == ["W1", "W2"]
    assert [(i.sku, i.on_hand, i.available) for i in by_wh["W1"].items] == [
        ("A", 3, 2),
        ("B", 5, None),
    ]


def test_csv_po_ack_and_ship_notice() -> None:
    ack_ctx = DecodeContext(kind=DocKind.PO_ACK, supplier_id="S")
    (ack,) = decode(
        "csv",
        b"po_number,ack_number,ack_date,status,line_number,sku,ordered_qty,acked_qty,line_status\n"
        b"PO1,A1,2026-11-27,accepted,1,X,10,10,accepted\n"
        b"PO1,A1,2026-11-27,accepted,2,Y,5,0,rejected\n",
        ack_ctx,
    )
    assert isinstance(ack, PoAck)
    assert ack.ack_date == dt.date(2026, 11, 27)
    assert [(ln.line_number, ln.acked_qty, ln.line_status) for ln in ack.lines] == [
        ("1", 10, "accepted"),
        ("2", 0, "rejected"),
    ]
    asn_ctx = DecodeContext(kind=DocKind.SHIP_NOTICE, supplier_id="S")
    (asn,) = decode("csv", b"asn_number,carrier,line_seq,sku,shipped_qty\nN1,UPS,1,X,4\n", asn_ctx)
    assert isinstance(asn, ShipNotice)
    assert (asn.carrier, asn.lines[0].line_seq, asn.lines[0].shipped_qty) == ("UPS", 1, 4)


def test_csv_semicolon_export() -> None:
    (doc,) = decode("csv", b"warehouse_id;as_of;sku;on_hand\nW;2026-11-28T00:00:00Z;A;4\n")
    assert isinstance(doc, InventorySnapshot)
    assert doc.items[0].on_hand == 4


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"warehouse_id,as_of,sku,on_hand\nW,2026-11-28T00:00:00Z,A\n", "line 2"),
        (b"warehouse_id,as_of,sku,on_hand\nW,2026-11-28T00:00:00Z,A,lots\n", "line 2"),
        (b"warehouse_id,as_of,sku,on_hand\nW,2026-11-28T00:00:00Z,A,nan\n", "line 2"),
        (b"", "line 1"),
    ],
    ids=["short-row", "not-a-number", "nan", "empty"],
)
def test_csv_errors_name_the_line(data: bytes, where: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode("csv", data)
    assert err.value.where.startswith(where)


def test_csv_mapping_with_unknown_column_is_an_error() -> None:
    ctx = DecodeContext(
        kind=DocKind.INVENTORY_SNAPSHOT, mapping=FieldMapping(fields={"sku": "Item No"})
    )
    with pytest.raises(PayloadError, match="Item No"):
        decode("csv", b"Item,Qty\nA,1\n", ctx)


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\xef\xbb\xbfISA*00*", "x12"),
        (b"UNA:+.? 'UNB+", "edifact"),
        (b"UNB+UNOC:3", "edifact"),
        (b'<?xml version="1.0"?><cXML payloadID="x">', "cxml"),
        (b"<Stock><Item/></Stock>", "xml"),
        (b'  {"a": 1}', "json"),
        (b"sku,on_hand\n", "csv"),
    ],
)
def test_sniff_format(head: bytes, fmt: str) -> None:
    assert sniff_format(head) == fmt


def test_sniff_unknown_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        sniff_format(b"\x00\x01binary")


# -- inventory versions (docs/contract.md §6) ------------------------------------------------------


def _items(count: int) -> str:
    return ",".join(f'{{"sku": "S{n}", "on_hand": {n}}}' for n in range(count))


def _snapshot_json(issued: str, control: str | None = None, *, version_last: bool = False) -> bytes:
    version = f'"issued_at": "{issued}"' + (f', "control_number": "{control}"' if control else "")
    head = '"supplier_id": "S", "warehouse_id": "W1", "as_of": "2026-11-28T07:45:00Z"'
    if version_last:
        return f'{{{head}, "items": [{_items(30)}], {version}}}'.encode()
    return f'{{{head}, {version}, "items": [{_items(30)}]}}'.encode()


def _versions(data: bytes, tmp_path: Path | None = None) -> list[Version]:
    """The versions of the decoded parts: in memory, or streamed from a spooled file."""
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, max_items_per_part=7)
    body = Body.from_bytes(data)
    if tmp_path is not None:
        (tmp_path / "inv.json").write_bytes(data)
        body = Body(path=tmp_path / "inv.json")
    docs = list(get_decoder("json")(body, ctx))
    return [version_of(d) for d in docs if isinstance(d, InventorySnapshot)]


def test_canonical_json_inventory_carries_issued_at_and_control_number() -> None:
    """issued_at and control_number of a canonical snapshot are its version."""
    assert _versions(_snapshot_json("2026-11-28T08:00:00Z", "000000017")) == [
        ("2026-11-28T08:00:00Z", "000000017")
    ]


@pytest.mark.parametrize("version_last", [False, True])
def test_streamed_json_inventory_stamps_every_part_with_the_version(
    tmp_path: Path, version_last: bool
) -> None:
    """A spooled snapshot in parts: each part has the version, written before or after items."""
    data = _snapshot_json("2026-11-28T08:00:00Z", "42", version_last=version_last)
    versions = _versions(data, tmp_path)
    assert len(versions) == 5
    assert set(versions) == {("2026-11-28T08:00:00Z", "42")}


def test_json_correction_with_a_later_issued_at_is_a_newer_version() -> None:
    """Same snapshot (warehouse, as_of), later issued_at: strictly greater version key."""
    (original,) = _versions(_snapshot_json("2026-11-28T08:00:00Z"))
    (correction,) = _versions(_snapshot_json("2026-11-28T08:00:01Z"))
    assert version_key(correction) > version_key(original)


def test_csv_inventory_carries_issued_at_and_control_number() -> None:
    """The issued_at and control_number columns give the snapshot its version."""
    (doc,) = decode(
        "csv",
        b"warehouse_id,as_of,issued_at,control_number,sku,on_hand\r\n"
        b"W1,2026-11-28T07:45:00Z,2026-11-28T08:00:00Z,0007,A,3\r\n"
        b"W1,2026-11-28T07:45:00Z,2026-11-28T08:00:00Z,0007,B,4\r\n",
    )
    assert isinstance(doc, InventorySnapshot)
    assert version_of(doc) == ("2026-11-28T08:00:00Z", "0007")
    assert len(doc.items) == 2


def test_json_mapping_may_map_the_version_of_a_snapshot() -> None:
    """A mapping names the fields that hold issued_at and control_number."""
    mapping = FieldMapping(
        records="stock",
        fields={"warehouse_id": "site", "as_of": "at", "issued_at": "sent",
                "control_number": "seq", "sku": "item", "on_hand": "qty"},
    )  # fmt: skip
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, supplier_id="S", mapping=mapping)
    (doc,) = decode(
        "json",
        b'{"stock": [{"site": "W1", "at": "2026-11-28T07:45:00Z", "sent": "2026-11-28T08:00:00Z",'
        b' "seq": "12", "item": "A", "qty": 1}]}',
        ctx,
    )
    assert isinstance(doc, InventorySnapshot)
    assert version_of(doc) == ("2026-11-28T08:00:00Z", "12")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_simulated_inventory_roundtrips_its_version(fmt: str) -> None:
    """The simulator's JSON and CSV write a snapshot's version; the decoders read it back."""
    snapshot = InventorySnapshot(
        warehouse_id="W1",
        as_of=dt.datetime(2026, 11, 28, 7, 45, tzinfo=dt.UTC),
        supplier_id="ACME",
        issued_at=dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC),
        control_number="000000003",
        items=[InventoryItem(sku="A", on_hand=1)],
    )
    (doc,) = decode(fmt, get_renderer(fmt)([snapshot], DocKind.INVENTORY_SNAPSHOT))
    assert isinstance(doc, InventorySnapshot)
    assert version_of(doc) == version_of(snapshot) == ("2026-11-28T08:00:00Z", "000000003")
