"""The JSON and CSV renderers produce the canonical shapes the decoders read."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import msgspec

from supplyfeed._models import (
    DocKind,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    ShipNotice,
    ShipNoticeLine,
)
from supplyfeed.sim import get_renderer
from supplyfeed.sim.render import get_corrupter
from supplyfeed.sim.render.csv import COLUMNS

T = dt.datetime(2026, 3, 1, 8, 30, 0, tzinfo=dt.UTC)
SNAPSHOT = InventorySnapshot(
    supplier_id="SUP001",
    warehouse_id="W01",
    as_of=T,
    items=[
        InventoryItem(sku="P001-00001", on_hand=12, available=10),
        InventoryItem(sku="P001-00002", on_hand=5, available=None, uom="CS"),
    ],
)
ACK = PoAck(
    supplier_id="SUP001",
    po_number="4500000001",
    ack_number="AK1",
    ack_date=T.date(),
    status="accepted_with_changes",
    issued_at=T,
    lines=[
        PoAckLine(
            line_number="1",
            sku="P001-00001",
            ordered_qty=10,
            acked_qty=8,
            uom="EA",
            unit_price=12.5,
            line_status="accepted_with_changes",
            promised_date=dt.date(2026, 3, 9),
        )
    ],
)
EMPTY_ASN = ShipNotice(supplier_id="SUP001", asn_number="SN1", issued_at=T)


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def test_json_one_document_is_an_object_several_an_array() -> None:
    """One document renders as msgspec's encoding of it; several as a JSON array."""
    render = get_renderer("json")
    one = render([SNAPSHOT], DocKind.INVENTORY_SNAPSHOT)
    assert one == msgspec.json.encode(SNAPSHOT)
    assert json.loads(one)["as_of"] == "2026-03-01T08:30:00Z"
    many = json.loads(render([ACK, ACK], DocKind.PO_ACK))
    assert isinstance(many, list)
    assert len(many) == 2
    assert msgspec.json.decode(render([ACK], DocKind.PO_ACK), type=PoAck) == ACK


def test_csv_inventory_has_the_canonical_header_and_one_row_per_item() -> None:
    """Inventory CSV: warehouse_id,as_of, the version (issued_at,control_number), then
    sku,on_hand,available,uom; null is empty."""
    rows = _rows(get_renderer("csv")([SNAPSHOT], DocKind.INVENTORY_SNAPSHOT))
    header = ["warehouse_id", "as_of", "issued_at", "control_number"]
    assert rows == [
        [*header, "sku", "on_hand", "available", "uom"],
        ["W01", "2026-03-01T08:30:00Z", "", "", "P001-00001", "12", "10", "EA"],
        ["W01", "2026-03-01T08:30:00Z", "", "", "P001-00002", "5", "", "CS"],
    ]
    corrected = msgspec.structs.replace(SNAPSHOT, issued_at=T, control_number="0002")
    rows = _rows(get_renderer("csv")([corrected], DocKind.INVENTORY_SNAPSHOT))
    assert rows[1][2:4] == ["2026-03-01T08:30:00Z", "0002"]


def test_csv_po_ack_prints_prices_with_two_decimals_and_iso_dates() -> None:
    """PO-ack CSV: header fields then line fields; 12.5 prints as 12.50."""
    rows = _rows(get_renderer("csv")([ACK], DocKind.PO_ACK))
    assert rows[0] == list(COLUMNS[DocKind.PO_ACK])
    assert rows[1] == [
        "4500000001", "AK1", "2026-03-01", "accepted_with_changes", "2026-03-01T08:30:00Z",
        "1", "P001-00001", "10", "8", "EA", "12.50", "accepted_with_changes", "2026-03-09",
    ]  # fmt: skip


def test_csv_document_without_lines_is_one_row_with_empty_line_cells() -> None:
    """A ship notice with no lines still yields its header as one row."""
    rows = _rows(get_renderer("csv")([EMPTY_ASN], DocKind.SHIP_NOTICE))
    assert rows[0] == list(COLUMNS[DocKind.SHIP_NOTICE])
    assert rows[1][0] == "SN1"
    assert rows[1][7] == "2026-03-01T08:30:00Z"
    assert rows[1][8:] == [""] * 8


def test_csv_ship_notice_line_cells() -> None:
    """Ship-notice lines carry line_seq, PO refs, SSCC and lot; a null lot is empty."""
    line = ShipNoticeLine(
        line_seq=1, po_number="45", po_line_number="2", sku="S", shipped_qty=3, uom="EA",
        container_id="006141410000000017", lot=None,
    )  # fmt: skip
    asn = ShipNotice(supplier_id="SUP001", asn_number="SN2", carrier="UPSN", lines=[line])
    rows = _rows(get_renderer("csv")([asn], DocKind.SHIP_NOTICE))
    assert rows[1][8:] == ["1", "45", "2", "S", "3", "EA", "006141410000000017", ""]


def test_corrupted_bodies_do_not_decode() -> None:
    """The malformed-fault bodies of JSON and CSV are rejected by strict readers."""
    body = get_renderer("json")([SNAPSHOT], DocKind.INVENTORY_SNAPSHOT)
    bad = get_corrupter("json")(body)
    try:
        msgspec.json.decode(bad)
    except msgspec.DecodeError:
        pass
    else:
        raise AssertionError("corrupt JSON decoded")
    csv_bad = get_corrupter("csv")(get_renderer("csv")([SNAPSHOT], DocKind.INVENTORY_SNAPSHOT))
    try:
        csv_bad.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("corrupt CSV is valid UTF-8")
