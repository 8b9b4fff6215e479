"""cXML payloads decode to the canonical records a person reads off them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from supplyfeed import (
    DocKind,
    Document,
    InventorySnapshot,
    PayloadError,
    PoAck,
    ShipNotice,
)
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.cxml import decode
from supplyfeed._formats.registry import get_decoder, sniff_format
from supplyfeed._sink.schema import Version, version_key, version_of

DOCTYPE = '<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.014/cXML.dtd">'
MINUS5 = dt.timezone(dt.timedelta(hours=-5))


def envelope(payload: str, parent: str = "Request", *, doctype: bool = True) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
{DOCTYPE if doctype else ""}
<cXML payloadID="1700000000.42@supplier.example" timestamp="2026-03-02T10:15:00-05:00">
  <Header>
    <From><Credential domain="NetworkID"><Identity>AN0100</Identity></Credential></From>
    <To><Credential domain="NetworkID"><Identity>AN0200</Identity></Credential></To>
    <Sender><Credential domain="NetworkID"><Identity>AN0100</Identity></Credential>
      <UserAgent>test</UserAgent></Sender>
  </Header>
  <{parent}>{payload}</{parent}>
</cXML>""".encode()


CONFIRMATION = """
<ConfirmationRequest>
  <ConfirmationHeader confirmID="CONF-77" operation="new" type="detail"
                      noticeDate="2026-03-02T09:00:00-05:00">
    <Contact role="shipTo" addressID="DC-9"><Name xml:lang="en">Dock 9</Name></Contact>
  </ConfirmationHeader>
  <OrderReference orderID="PO-1001"><DocumentReference payloadID="po@buyer"/></OrderReference>
  <ConfirmationItem quantity="10" lineNumber="1">
    <UnitOfMeasure>EA</UnitOfMeasure>
    <ConfirmationStatus quantity="10" type="accept" deliveryDate="2026-03-09T12:00:00-05:00">
      <UnitOfMeasure>EA</UnitOfMeasure>
      <UnitPrice><Money currency="EUR">2.50</Money></UnitPrice>
      <Extrinsic name="SupplierPartID">SKU-A &amp; B</Extrinsic>
    </ConfirmationStatus>
  </ConfirmationItem>
  <ConfirmationItem quantity="20" lineNumber="2">
    <UnitOfMeasure>CS</UnitOfMeasure>
    <ConfirmationStatus quantity="15" type="accept" deliveryDate="2026-03-10">
      <UnitOfMeasure>CS</UnitOfMeasure>
      <ItemIn quantity="15"><ItemID><SupplierPartID>SKU-C2</SupplierPartID></ItemID></ItemIn>
    </ConfirmationStatus>
    <ConfirmationStatus quantity="5" type="backordered" deliveryDate="2026-04-01">
      <UnitOfMeasure>CS</UnitOfMeasure>
    </ConfirmationStatus>
  </ConfirmationItem>
  <ConfirmationItem quantity="3" lineNumber="3">
    <UnitOfMeasure>EA</UnitOfMeasure>
    <ConfirmationStatus quantity="3" type="reject"><UnitOfMeasure>EA</UnitOfMeasure>
    </ConfirmationStatus>
  </ConfirmationItem>
</ConfirmationRequest>"""

SHIP_NOTICE = """
<ShipNoticeRequest>
  <ShipNoticeHeader shipmentID="ASN-555" noticeDate="2026-03-02T08:00:00-05:00"
                    shipmentDate="2026-03-02T07:30:00-05:00" deliveryDate="2026-03-04">
    <Contact role="shipFrom" addressID="PLANT-1"><Name xml:lang="en">Plant One</Name></Contact>
    <Contact role="shipTo"><Name xml:lang="en">Main DC</Name></Contact>
  </ShipNoticeHeader>
  <ShipControl>
    <CarrierIdentifier domain="companyName">United Parcel Service</CarrierIdentifier>
    <CarrierIdentifier domain="SCAC">UPSN</CarrierIdentifier>
    <ShipmentIdentifier>1Z999AA10123456784</ShipmentIdentifier>
  </ShipControl>
  <ShipNoticePortion>
    <OrderReference orderID="PO-1001"><DocumentReference payloadID="x"/></OrderReference>
    <ShipNoticeItem quantity="10" lineNumber="1">
      <ItemID><SupplierPartID>SKU-A</SupplierPartID></ItemID>
      <UnitOfMeasure>EA</UnitOfMeasure>
      <Packaging><ShippingContainerSerialCode>106141411234567897</ShippingContainerSerialCode>
      </Packaging>
      <Batch><SupplierBatchID>LOT-42</SupplierBatchID></Batch>
    </ShipNoticeItem>
  </ShipNoticePortion>
  <ShipNoticePortion>
    <OrderReference orderID="PO-1002"><DocumentReference payloadID="y"/></OrderReference>
    <ShipNoticeItem quantity="2.5" lineNumber="7" shipNoticeLineNumber="9">
      <ItemID><SupplierPartID>SKU-Z</SupplierPartID></ItemID>
      <UnitOfMeasure>KGM</UnitOfMeasure>
    </ShipNoticeItem>
  </ShipNoticePortion>
</ShipNoticeRequest>"""

HEADER_ONLY_NOTICE = """
<ShipNoticeRequest>
  <ShipNoticeHeader shipmentID="ASN-HDR" noticeDate="2026-03-02T08:00:00-05:00"
                    shipmentDate="2026-03-02T07:30:00-05:00"/>
  <ShipControl><CarrierIdentifier domain="SCAC">FDEG</CarrierIdentifier></ShipControl>
  <ShipNoticePortion><OrderReference orderID="PO-9"/></ShipNoticePortion>
</ShipNoticeRequest>"""


def activity(details: str) -> str:
    return f"""
<ProductActivityMessage>
  <ProductActivityHeader messageID="MSG-1" creationDate="2026-03-02T06:00:00Z"
                         processType="SMI"/>
  {details}
</ProductActivityMessage>"""


def detail(sku: str, location: str, stock: str, unrestricted: str | None = None) -> str:
    free = (
        f'<UnrestrictedUseQuantity quantity="{unrestricted}"><UnitOfMeasure>EA</UnitOfMeasure>'
        "</UnrestrictedUseQuantity>"
        if unrestricted is not None
        else ""
    )
    return f"""
  <ProductActivityDetails>
    <ItemID><SupplierPartID>{sku}</SupplierPartID><BuyerPartID>B-{sku}</BuyerPartID></ItemID>
    <Contact role="locationTo"><Name xml:lang="en">Buyer plant</Name>
      <IdReference domain="NetworkId" identifier="PLANT-X"/></Contact>
    <Contact role="locationFrom"><Name xml:lang="en">Warehouse</Name>
      <IdReference domain="NetworkId" identifier="{location}"/></Contact>
    <Inventory>
      <StockOnHandQuantity quantity="{stock}"><UnitOfMeasure>EA</UnitOfMeasure>
      </StockOnHandQuantity>
      {free}
      <BlockedQuantity quantity="1"><UnitOfMeasure>EA</UnitOfMeasure></BlockedQuantity>
    </Inventory>
  </ProductActivityDetails>"""


def run(data: bytes, kind: DocKind, **options: int) -> list[Document]:
    ctx = DecodeContext(kind=kind, supplier_id="SUP1", **options)  # type: ignore[arg-type]
    return list(decode(Body.from_bytes(data), ctx))


def test_confirmation_request_becomes_a_po_ack() -> None:
    """ConfirmationRequest header, order reference and items map onto PoAck and its lines."""
    [ack] = run(envelope(CONFIRMATION), DocKind.PO_ACK)
    assert isinstance(ack, PoAck)
    assert (ack.supplier_id, ack.po_number, ack.ack_number) == ("SUP1", "PO-1001", "CONF-77")
    assert ack.ack_date == dt.date(2026, 3, 2)
    assert ack.issued_at == dt.datetime(2026, 3, 2, 10, 15, tzinfo=MINUS5)
    assert ack.control_number == "1700000000.42@supplier.example"
    assert ack.status == "accepted_with_changes"  # type="detail": the lines differ
    assert ack.codes["ConfirmationHeader.type"] == "detail"
    first, second, third = ack.lines
    assert (first.line_number, first.sku, first.ordered_qty, first.acked_qty) == (
        "1",
        "SKU-A & B",
        10,
        10,
    )
    assert (first.uom, first.unit_price, first.line_status) == ("EA", 2.5, "accepted")
    assert first.promised_date == dt.date(2026, 3, 9)
    assert first.codes == {"ConfirmationStatus.type": "accept", "currency": "EUR"}
    # 15 accepted + 5 backordered: 20 acknowledged, with changes, first delivery date.
    assert (second.sku, second.acked_qty, second.line_status) == (
        "SKU-C2",
        20,
        "accepted_with_changes",
    )
    assert second.promised_date == dt.date(2026, 3, 10)
    assert second.codes["ConfirmationStatus.type"] == "accept,backordered"
    assert (third.line_status, third.acked_qty, third.unit_price) == ("rejected", 3, None)


def test_blank_confirm_id_falls_back_to_payload_id() -> None:
    """A blank confirmID takes the envelope payloadID, which is stable across resends."""
    data = envelope(CONFIRMATION.replace('confirmID="CONF-77"', 'confirmID=""'))
    [ack] = run(data, DocKind.PO_ACK)
    assert isinstance(ack, PoAck)
    assert ack.ack_number == "1700000000.42@supplier.example"


@pytest.mark.parametrize(
    ("header_type", "status"),
    [("accept", "accepted"), ("reject", "rejected"), ("except", "accepted_with_changes")],
)
def test_header_type_gives_the_status(header_type: str, status: str) -> None:
    """Header types other than detail/allDetail decide the status on their own."""
    data = envelope(CONFIRMATION.replace('type="detail"', f'type="{header_type}"'))
    [ack] = run(data, DocKind.PO_ACK)
    assert isinstance(ack, PoAck)
    assert ack.status == status


def test_ship_notice_request_becomes_a_ship_notice() -> None:
    """Header, ship control, parties and items of every portion map onto ShipNotice."""
    [notice] = run(envelope(SHIP_NOTICE), DocKind.SHIP_NOTICE)
    assert isinstance(notice, ShipNotice)
    assert notice.asn_number == "ASN-555"
    assert (notice.ship_date, notice.expected_delivery) == (
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 4),
    )
    assert (notice.carrier, notice.tracking_number) == ("UPSN", "1Z999AA10123456784")
    assert (notice.ship_from, notice.ship_to) == ("PLANT-1", "Main DC")
    first, second = notice.lines
    assert (first.line_seq, first.po_number, first.po_line_number, first.sku) == (
        1,
        "PO-1001",
        "1",
        "SKU-A",
    )
    assert (first.shipped_qty, first.uom, first.container_id, first.lot) == (
        10,
        "EA",
        "106141411234567897",
        "LOT-42",
    )
    assert (second.line_seq, second.po_number, second.po_line_number) == (9, "PO-1002", "7")
    assert (second.shipped_qty, second.uom, second.lot) == (2.5, "KGM", None)


def test_header_only_ship_notice_has_no_lines() -> None:
    """A notice without ShipNoticeItem is a notice without lines; its PO stays in codes."""
    [notice] = run(envelope(HEADER_ONLY_NOTICE), DocKind.SHIP_NOTICE)
    assert isinstance(notice, ShipNotice)
    assert (notice.asn_number, notice.carrier, notice.lines) == ("ASN-HDR", "FDEG", [])
    assert notice.codes["OrderReference.orderID"] == "PO-9"


def test_product_activity_gives_one_snapshot_per_location() -> None:
    """Details are grouped by their locationFrom, as of the header's creationDate."""
    details = detail("S1", "W1", "12", "10") + detail("S2", "W2", "4") + detail("S3", "W1", "0")
    snapshots = run(envelope(activity(details), "Message"), DocKind.INVENTORY_SNAPSHOT)
    assert all(isinstance(s, InventorySnapshot) for s in snapshots)
    by_warehouse = {s.warehouse_id: s for s in snapshots if isinstance(s, InventorySnapshot)}
    assert sorted(by_warehouse) == ["W1", "W2"]
    w1 = by_warehouse["W1"]
    assert w1.as_of == dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)
    assert [(i.sku, i.on_hand, i.available, i.uom) for i in w1.items] == [
        ("S1", 12, 10, "EA"),
        ("S3", 0, None, "EA"),
    ]
    assert w1.items[0].codes["BlockedQuantity"] == "1"
    assert w1.codes["ProductActivityHeader.messageID"] == "MSG-1"


def test_large_activity_message_comes_in_parts() -> None:
    """A location with more items than max_items_per_part gives consecutive parts."""
    details = "".join(detail(f"S{n}", "W1", str(n)) for n in range(25))
    snapshots = run(
        envelope(activity(details), "Message"), DocKind.INVENTORY_SNAPSHOT, max_items_per_part=10
    )
    assert [len(s.items) for s in snapshots if isinstance(s, InventorySnapshot)] == [10, 10, 5]


def test_details_without_inventory_are_skipped_with_a_warning() -> None:
    """A forecast-only detail carries no stock: skipped, and the context says so."""
    forecast = "<ProductActivityDetails><ItemID><SupplierPartID>F</SupplierPartID></ItemID>"
    forecast += "</ProductActivityDetails>"
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT)
    data = envelope(activity(forecast + detail("S1", "W1", "1")), "Message")
    [snapshot] = list(decode(Body.from_bytes(data), ctx))
    assert isinstance(snapshot, InventorySnapshot)
    assert [i.sku for i in snapshot.items] == ["S1"]
    assert ctx.warnings
    assert "ProductActivityDetails[1]" in ctx.warnings[0]


def test_batch_of_envelopes_gives_every_document() -> None:
    """Several cXML documents under a cXMLBatch root all decode, in order."""
    one = envelope(CONFIRMATION, doctype=False).split(b"?>", 1)[1]
    two = one.replace(b'orderID="PO-1001"', b'orderID="PO-1002"')
    docs = run(b"<cXMLBatch>" + one + two + b"</cXMLBatch>", DocKind.PO_ACK)
    assert [d.po_number for d in docs if isinstance(d, PoAck)] == ["PO-1001", "PO-1002"]
    assert run(b"<cXMLBatch/>", DocKind.PO_ACK) == []


@pytest.mark.parametrize(
    ("payload", "parent", "kind"),
    [
        (CONFIRMATION, "Request", DocKind.SHIP_NOTICE),
        (SHIP_NOTICE, "Request", DocKind.PO_ACK),
        (activity(detail("S", "W", "1")), "Message", DocKind.PO_ACK),
        ("<OrderRequest/>", "Request", DocKind.PO_ACK),
    ],
)
def test_payload_of_another_kind_is_refused(payload: str, parent: str, kind: DocKind) -> None:
    """The cXML payload must be the feed's kind: kind_mismatch otherwise."""
    with pytest.raises(PayloadError) as info:
        run(envelope(payload, parent), kind)
    assert info.value.kind == "kind_mismatch"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"<Invoice/>", "envelope"),
        (b'<cXML><Response><Status code="200"/></Response></cXML>', "envelope"),
        (b"<cXML><Header/></cXML>", "envelope"),
        (
            envelope(CONFIRMATION.replace('orderID="PO-1001"', 'orderID=""')),
            "validation",
        ),
        (envelope(CONFIRMATION.replace('quantity="10"', 'quantity="ten"', 1)), "validation"),
        (envelope(SHIP_NOTICE.replace('shipmentID="ASN-555"', "")), "validation"),
        (envelope(SHIP_NOTICE.replace("2026-03-04", "tomorrow")), "validation"),
        (envelope(CONFIRMATION)[:-40], "syntax"),
    ],
)
def test_broken_documents_are_typed_payload_errors(data: bytes, kind: str) -> None:
    """Wrong roots, responses, missing keys, bad values and truncation are PayloadErrors."""
    with pytest.raises(PayloadError) as info:
        run(data, DocKind.PO_ACK if b"Confirmation" in data else DocKind.SHIP_NOTICE)
    assert info.value.kind == kind
    assert info.value.where


def test_registry_sniffs_and_finds_the_decoder() -> None:
    """A cXML payload is sniffed as cxml and the registry returns this decoder."""
    assert sniff_format(envelope(CONFIRMATION)[:200]) == "cxml"
    assert get_decoder("cxml") is decode


# -- ProductActivityMessage versions (docs/contract.md §6) -----------------------------------------


def _inventory_versions(data: bytes, spooled_to: Path | None = None) -> list[Version]:
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, max_items_per_part=4)
    body = Body.from_bytes(data)
    if spooled_to is not None:
        spooled_to.write_bytes(data)
        body = Body(path=spooled_to)
    return [version_of(d) for d in decode(body, ctx)]


def _message(timestamp: str = "2026-03-02T10:15:00-05:00", payload_id: str = "1.42@s") -> bytes:
    details = "".join(detail(f"S{n}", "W1" if n % 3 else "W2", str(n)) for n in range(12))
    return (
        envelope(activity(details), "Message")
        .replace(b"2026-03-02T10:15:00-05:00", timestamp.encode())
        .replace(b"1700000000.42@supplier.example", payload_id.encode())
    )


def test_activity_message_version_is_the_envelope_timestamp_and_payload_id(
    tmp_path: Path,
) -> None:
    """Every part of every location carries (timestamp, payloadID), in memory and spooled."""
    expected = ("2026-03-02T15:15:00Z", "1.42@s")
    in_memory = _inventory_versions(_message())
    assert len(in_memory) > 2
    assert set(in_memory) == {expected}
    assert set(_inventory_versions(_message(), spooled_to=tmp_path / "pam.xml")) == {expected}


def test_activity_message_with_a_later_timestamp_is_a_newer_version() -> None:
    """A correction re-sent later (same creationDate, so the same snapshot) orders after."""
    (original,) = set(_inventory_versions(_message()))
    (correction,) = set(_inventory_versions(_message("2026-03-02T10:16:00-05:00", "1.43@s")))
    assert version_key(correction) > version_key(original)


def test_batch_documents_of_one_snapshot_keep_their_own_versions() -> None:
    """Two envelopes reporting one location at one instant are two versions, not one."""
    one = _message().split(b"?>", 1)[1].replace(DOCTYPE.encode(), b"")
    two = _message("2026-03-02T10:16:00-05:00", "1.43@s").split(b"?>", 1)[1]
    two = two.replace(DOCTYPE.encode(), b"")
    versions = _inventory_versions(b"<cXMLBatch>" + one + two + b"</cXMLBatch>")
    assert sorted(set(versions)) == [
        ("2026-03-02T15:15:00Z", "1.42@s"),
        ("2026-03-02T15:16:00Z", "1.43@s"),
    ]
