"""The real cXML samples (read in place from the shared folder) decode to what they say.

Every expected value below was read off the sample file by eye; nothing is copied from
the samples into the repository.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from supplyfeed import DocKind, Document, InventorySnapshot, PayloadError, PoAck, ShipNotice
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.cxml import decode
from supplyfeed._formats.registry import sniff_format

KINDS = {
    "ConfirmationRequest": DocKind.PO_ACK,
    "ShipNoticeRequest": DocKind.SHIP_NOTICE,
    "ProductActivityMessage": DocKind.INVENTORY_SNAPSHOT,
}


def decode_sample(samples_dir: Path, name: str, kind: DocKind) -> list[Document]:
    return list(decode(Body(path=samples_dir / name), DecodeContext(kind=kind)))


def test_every_cxml_sample_decodes(samples_dir: Path) -> None:
    """Each cxml_* sample is sniffed as cXML and decodes to at least one document."""
    files = sorted(samples_dir.glob("cxml_*"))
    assert files
    for path in files:
        kind = next(k for name, k in KINDS.items() if name in path.name)
        assert sniff_format(path.read_bytes()[:4096]) == "cxml", path.name
        assert decode_sample(samples_dir, path.name, kind), path.name


def test_office_depot_confirmation(samples_dir: Path) -> None:
    """Order 400-2591453-0, confirmed in detail: three accepted lines with prices."""
    [ack] = decode_sample(samples_dir, "cxml_ConfirmationRequest_officedepot.xml", DocKind.PO_ACK)
    assert isinstance(ack, PoAck)
    assert ack.po_number == "400-2591453-0"
    # confirmID is blank in the file, so the payloadID identifies the acknowledgment.
    assert ack.ack_number == "1346769469000.process.162998590@officedepot.com"
    assert ack.ack_date == dt.date(2012, 9, 4)
    assert ack.status == "accepted"
    assert ack.codes["ConfirmationHeader.invoiceID"] == "623612976001"
    rows = [
        (
            line.line_number,
            line.sku,
            line.ordered_qty,
            line.acked_qty,
            line.uom,
            line.unit_price,
            line.line_status,
            line.promised_date,
        )
        for line in ack.lines
    ]
    promised = dt.date(2012, 9, 5)
    assert rows == [
        ("1", "751441", 20, 20, "RM", 4.44, "accepted", promised),
        ("2", "429175", 12, 12, "BX", 1.52, "accepted", promised),
        ("3", "908194", 2, 2, "EA", 4.14, "accepted", promised),
    ]


def test_cxml_php_ship_notice_is_header_only(samples_dir: Path) -> None:
    """Shipment S2-123 by FedEx (SCAC FDE), tracking 8202 8261 1194, order DO1234, no items."""
    [notice] = decode_sample(
        samples_dir, "cxml_ShipNoticeRequest_cxml-php.xml", DocKind.SHIP_NOTICE
    )
    assert isinstance(notice, ShipNotice)
    assert notice.asn_number == "S2-123"
    assert notice.ship_date == dt.date(2000, 10, 14)
    assert notice.expected_delivery == dt.date(2000, 10, 18)
    assert (notice.carrier, notice.tracking_number) == ("FDE", "8202 8261 1194")
    assert notice.lines == []
    assert notice.codes["OrderReference.orderID"] == "DO1234"
    assert notice.control_number == "0c30050@supplierorg.com"


def test_cxml_php_product_activity(samples_dir: Path) -> None:
    """SII99825: 200 EA on hand at warehouse 0003, as of 2019-02-20T14:39:48-08:00."""
    [snapshot] = decode_sample(
        samples_dir,
        "cxml_ProductActivityMessage_inventory_cxml-php.xml",
        DocKind.INVENTORY_SNAPSHOT,
    )
    assert isinstance(snapshot, InventorySnapshot)
    assert snapshot.warehouse_id == "0003"
    minus8 = dt.timezone(dt.timedelta(hours=-8))
    assert snapshot.as_of == dt.datetime(2019, 2, 20, 14, 39, 48, tzinfo=minus8)
    [item] = snapshot.items
    assert (item.sku, item.on_hand, item.available, item.uom) == ("SII99825", 200, None, "EA")
    assert item.codes["BuyerPartID"] == "II99825"


@pytest.mark.parametrize("kind", [DocKind.PO_ACK, DocKind.INVENTORY_SNAPSHOT])
def test_sample_under_the_wrong_kind_is_refused(samples_dir: Path, kind: DocKind) -> None:
    """The real ship notice read as another kind is a kind_mismatch, not garbage."""
    with pytest.raises(PayloadError) as info:
        decode_sample(samples_dir, "cxml_ShipNoticeRequest_cxml-php.xml", kind)
    assert info.value.kind == "kind_mismatch"
