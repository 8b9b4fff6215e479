"""cXML decoder: ConfirmationRequest, ShipNoticeRequest and ProductActivityMessage.

One cXML envelope carries one payload under ``Request`` or ``Message``; its element name
must match the feed's kind (``kind_mismatch`` otherwise). Several envelopes may be served
together as the children of a ``<cXMLBatch>`` root. Mapping decisions, payload by
payload (raw codes the mapping interpreted are kept in ``codes``):

**ConfirmationRequest -> PoAck.** ``OrderReference@orderID`` is the PO number;
``ConfirmationHeader@confirmID`` the ack number, or the envelope ``payloadID`` when a
supplier leaves it blank (real feeds do), because that identifies the document and stays
the same when it is re-sent. ``noticeDate`` gives ``ack_date`` (the date as written, in
the sender's time zone). ``type`` gives the status: accept/reject/except/backordered map
directly; ``detail`` and ``allDetail`` mean "see the lines", so the status is the lines'
common status, or ``accepted_with_changes`` when they differ. Each ``ConfirmationItem``
is a line: ``lineNumber``, ``quantity`` (ordered) and ``UnitOfMeasure``; its
``ConfirmationStatus`` gives the acknowledged quantity, line status, ``UnitPrice/Money``
and ``deliveryDate`` (the promised date). A line split over several statuses (15 accepted,
5 backordered) acknowledges the sum of the non-rejected quantities and is
``accepted_with_changes`` unless all statuses agree. The SKU is the ``SupplierPartID``
element of a substituted item, else ``Extrinsic name="SupplierPartID"``. cXML ``unknown``
is ``None``; types this module does not know pass through unchanged.

**ShipNoticeRequest -> ShipNotice.** ``ShipNoticeHeader@shipmentID`` is the ASN number,
``shipmentDate``/``deliveryDate`` the ship and expected delivery dates. The carrier is the
``CarrierIdentifier`` with domain SCAC, else the first one; ``ShipmentIdentifier`` is the
tracking number. Ship-from/ship-to come from the header's ``Contact role=shipFrom/shipTo``
(or ``ShipFrom``/``ShipTo`` ``Address``) and are the party's id (``addressID`` or
``IdReference@identifier``) when it has one, else its name: an id joins with master
data, a name does not. Lines are the ``ShipNoticeItem`` elements of every
``ShipNoticePortion``, taking the portion's ``orderID`` as PO number; ``line_seq`` is
``shipNoticeLineNumber`` when given, else the position in the notice. A notice without
items (header-level ASN) is a notice without lines; its order ids are kept in ``codes``.

**ProductActivityMessage -> InventorySnapshot.** One snapshot per location, as of the
``ProductActivityHeader@creationDate`` (else the envelope timestamp). Per
``ProductActivityDetails``: ``ItemID/SupplierPartID`` is the SKU; the location is the
``Contact role=locationFrom`` (the stock-holding location), else ``locationTo``, else the
first contact, identified by ``IdReference@identifier``, ``addressID`` or name. From
``Inventory``, ``StockOnHandQuantity`` is ``on_hand`` (``UnrestrictedUseQuantity`` when
no stock-on-hand is given) and ``UnrestrictedUseQuantity`` is ``available`` (stock free to
promise); every other ``...Quantity`` is kept in ``codes``. Details without inventory
quantities (forecast-only time series) are skipped with a warning. The message is streamed:
details are released once read, and snapshots come in parts of ``max_items_per_part``.

``issued_at`` is the envelope ``timestamp`` and ``control_number`` its ``payloadID``: they
are what changes when a supplier sends a new version and stays put on a resend. This holds
for inventory too, on every part of a snapshot; two documents of a ``cXMLBatch`` that
report one location at one instant under different envelopes stay two documents, each
with its own version.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import msgspec

from .._exceptions import PayloadError
from .._models import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    Quantity,
    ShipNotice,
    ShipNoticeLine,
)
from .base import DecodeContext
from .body import Body
from .safe_xml import iterparse, parts_by_key, text_of

__all__ = ["BATCH_TAG", "PAYLOAD_KINDS", "decode"]

BATCH_TAG = "cXMLBatch"
"""Root of several cXML documents served at one URL (an empty batch holds no documents)."""

PAYLOAD_KINDS: dict[str, DocKind] = {
    "ConfirmationRequest": DocKind.PO_ACK,
    "ShipNoticeRequest": DocKind.SHIP_NOTICE,
    "ProductActivityMessage": DocKind.INVENTORY_SNAPSHOT,
}

# cXML ConfirmationHeader@type -> PoAck.status; "detail"/"allDetail" defer to the lines.
HEADER_STATUS: dict[str, str] = {
    "accept": "accepted",
    "reject": "rejected",
    "except": "accepted_with_changes",
    "backordered": "backordered",
}
_FROM_LINES = frozenset({"detail", "allDetail"})

# cXML ConfirmationStatus@type -> PoAckLine.line_status ("unknown" is None).
LINE_STATUS: dict[str, str | None] = {
    "accept": "accepted",
    "reject": "rejected",
    "backordered": "backordered",
    "detail": "accepted_with_changes",
    "allDetail": "accepted_with_changes",
    "except": "accepted_with_changes",
    "unknown": None,
}
_NOT_ACKED = frozenset({"reject", "unknown"})

_LOCATION_ROLES = ("locationFrom", "locationTo")
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


@dataclass(frozen=True, slots=True)
class _Envelope:
    payload_id: str | None
    timestamp: dt.datetime | None
    payload: str


def decode(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    """Decode one cXML payload into canonical documents (see the module docstring)."""
    try:
        yield from _decode(body, ctx)
    except PayloadError:
        raise
    except (ValueError, LookupError, TypeError, msgspec.ValidationError) as exc:
        # A converter met a value this module did not anticipate: still the payload's fault.
        raise PayloadError(f"undecodable cXML: {exc}", kind="validation") from exc


def _decode(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    if ctx.kind is DocKind.INVENTORY_SNAPSHOT:
        yield from _inventory(body, ctx)
        return
    mapper = _po_ack if ctx.kind is DocKind.PO_ACK else _ship_notice
    with body.open() as stream:
        for envelope, payload in _walk(stream, ctx, children=False):
            yield mapper(payload, envelope, ctx)


# -- envelope --------------------------------------------------------------------------

_PAYLOAD_PARENTS = ("Request", "Message")


class _Walk:
    """Where the walk is: the open path, and the cXML element and payload being read."""

    def __init__(self) -> None:
        self.path: list[str] = []
        self.base = 1  # depth of the <cXML> elements: 1 alone, 2 inside a batch root
        self.root: ET.Element | None = None
        self.envelope: _Envelope | None = None
        self.documents = 0
        self.batch = False

    def in_payload(self, depth: int) -> bool:
        """Whether the element at ``depth`` (still on ``path``) lies under a payload."""
        return (
            self.envelope is not None
            and depth >= self.base + 2
            and self.path[self.base] in _PAYLOAD_PARENTS
        )


def _walk(
    stream: BinaryIO, ctx: DecodeContext, *, children: bool
) -> Iterator[tuple[_Envelope, ET.Element]]:
    """Yield each complete payload element (``cXML/Request|Message/*``), or with
    ``children`` each complete child of a payload, releasing it once consumed.

    A payload holds one ``<cXML>`` document, or several as the children of a
    ``<cXMLBatch>`` root: cXML allows one request per envelope, and a feed that serves
    several documents at one URL needs a well-formed way to do so.
    """
    # Payload children sit at depth 4, or 5 inside a batch; nothing deeper is needed.
    events = iterparse(stream, max_depth=5 if children else 4)
    walk = _Walk()
    target = 3 if children else 2
    for event, elem in events:
        if event == "start":
            walk.path.append(elem.tag)
            _start(walk, elem, ctx)
            continue
        depth = len(walk.path)
        if depth == walk.base + target and walk.in_payload(depth):
            assert walk.envelope is not None
            yield walk.envelope, elem
            events.release(elem)
        elif depth == walk.base:
            if walk.envelope is None:
                raise PayloadError(
                    "cXML document without a Request or Message payload",
                    where=f"cXML[{walk.documents + 1}]",
                    kind="envelope",
                )
            walk.envelope = None
            walk.documents += 1
            events.release(elem)
        walk.path.pop()
    if walk.documents == 0 and not walk.batch:
        raise PayloadError("no cXML document in the payload", where="root element", kind="envelope")


def _start(walk: _Walk, elem: ET.Element, ctx: DecodeContext) -> None:
    depth = len(walk.path)
    if depth == 1 and elem.tag == BATCH_TAG:
        walk.base = 2
        walk.batch = True
    elif depth == walk.base:
        if elem.tag != "cXML":
            raise PayloadError(
                f"not a cXML document (element <{elem.tag}>)",
                where="/".join(walk.path),
                kind="envelope",
            )
        walk.root = elem
    elif depth == walk.base + 1 and elem.tag == "Response":
        raise PayloadError(
            "a cXML Response carries no document", where="cXML/Response", kind="envelope"
        )
    elif depth == walk.base + 2 and walk.path[walk.base] in _PAYLOAD_PARENTS:
        _check_kind(elem.tag, ctx.kind)
        assert walk.root is not None
        walk.envelope = _envelope(walk.root, elem.tag)


def _envelope(root: ET.Element, payload: str) -> _Envelope:
    return _Envelope(
        payload_id=_attr(root, "payloadID"),
        timestamp=_datetime(_attr(root, "timestamp"), "cXML/@timestamp"),
        payload=payload,
    )


def _check_kind(payload: str, kind: DocKind) -> None:
    found = PAYLOAD_KINDS.get(payload)
    if found is kind:
        return
    known = ", ".join(f"{name} ({k.value})" for name, k in PAYLOAD_KINDS.items())
    what = f"a {found.value} document" if found else "not a supported payload"
    raise PayloadError(
        f"cXML {payload} is {what}, but the feed's kind is {kind.value} (supported: {known})",
        where=f"cXML/*/{payload}",
        kind="kind_mismatch",
    )


# -- ConfirmationRequest -----------------------------------------------------------------


def _po_ack(request: ET.Element, env: _Envelope, ctx: DecodeContext) -> PoAck:
    header = _required(request, "ConfirmationHeader", "ConfirmationRequest")
    order = _required(request, "OrderReference", "ConfirmationRequest")
    po_number = _required_attr(order, "orderID", "ConfirmationRequest/OrderReference")
    ack_number = _attr(header, "confirmID") or env.payload_id
    if ack_number is None:
        raise PayloadError(
            "ConfirmationRequest has neither a confirmID nor a payloadID",
            where="ConfirmationHeader/@confirmID",
            kind="validation",
        )
    lines = [
        _po_ack_line(item, f"ConfirmationItem[{n}]")
        for n, item in enumerate(request.iter("ConfirmationItem"), start=1)
    ]
    confirm_type = _attr(header, "type")
    return PoAck(
        po_number=po_number,
        ack_number=ack_number,
        supplier_id=ctx.supplier_id,
        ack_date=_date(_attr(header, "noticeDate"), "ConfirmationHeader/@noticeDate"),
        status=_header_status(confirm_type, lines),
        issued_at=env.timestamp,
        control_number=env.payload_id,
        lines=lines,
        codes=_codes(
            {
                "ConfirmationHeader.type": confirm_type,
                "ConfirmationHeader.operation": _attr(header, "operation"),
                "ConfirmationHeader.invoiceID": _attr(header, "invoiceID"),
                "ConfirmationHeader.confirmID": _attr(header, "confirmID"),
            }
        ),
    )


def _header_status(confirm_type: str | None, lines: list[PoAckLine]) -> str | None:
    if confirm_type is not None and confirm_type not in _FROM_LINES:
        return HEADER_STATUS.get(confirm_type, confirm_type)
    statuses = {line.line_status for line in lines if line.line_status is not None}
    if not statuses:
        return None
    return statuses.pop() if len(statuses) == 1 else "accepted_with_changes"


def _po_ack_line(item: ET.Element, where: str) -> PoAckLine:
    statuses = item.findall("ConfirmationStatus")
    types = [_attr(s, "type") or "unknown" for s in statuses]
    priced = next((s for s in statuses if s.find("UnitPrice/Money") is not None), None)
    money = priced.find("UnitPrice/Money") if priced is not None else None
    dated = next((s for s in statuses if _attr(s, "deliveryDate")), None)
    uom = text_of(item.find("UnitOfMeasure")) or next(
        (u for s in statuses if (u := text_of(s.find("UnitOfMeasure")))), None
    )
    return PoAckLine(
        line_number=_required_attr(item, "lineNumber", where),
        sku=_supplier_part_id(item),
        ordered_qty=_number(_attr(item, "quantity"), f"{where}/@quantity"),
        acked_qty=_acked_quantity(statuses, types, where),
        uom=uom,
        unit_price=_price(text_of(money), f"{where}/ConfirmationStatus/UnitPrice"),
        line_status=_line_status(types),
        promised_date=_date(
            _attr(dated, "deliveryDate") if dated is not None else None,
            f"{where}/ConfirmationStatus/@deliveryDate",
        ),
        codes=_codes(
            {
                "ConfirmationStatus.type": ",".join(types) or None,
                "currency": _attr(money, "currency") if money is not None else None,
            }
        ),
    )


def _acked_quantity(statuses: list[ET.Element], types: list[str], where: str) -> Quantity | None:
    quantities = [
        _number(_attr(s, "quantity"), f"{where}/ConfirmationStatus/@quantity") for s in statuses
    ]
    if len(statuses) == 1:
        return quantities[0]
    kept = [
        q for q, t in zip(quantities, types, strict=True) if q is not None and t not in _NOT_ACKED
    ]
    return sum(kept) if kept else None


def _line_status(types: list[str]) -> str | None:
    mapped = {LINE_STATUS.get(t, t) for t in types}
    if not mapped:
        return None
    return mapped.pop() if len(mapped) == 1 else "accepted_with_changes"


def _supplier_part_id(item: ET.Element) -> str | None:
    for part in item.iter("SupplierPartID"):
        if text := text_of(part):
            return text
    for extrinsic in item.iter("Extrinsic"):
        if extrinsic.get("name") == "SupplierPartID" and (text := text_of(extrinsic)):
            return text
    return None


# -- ShipNoticeRequest -------------------------------------------------------------------


def _ship_notice(request: ET.Element, env: _Envelope, ctx: DecodeContext) -> ShipNotice:
    header = _required(request, "ShipNoticeHeader", "ShipNoticeRequest")
    control = request.find("ShipControl")
    carrier, carrier_domain = _carrier(control)
    lines: list[ShipNoticeLine] = []
    order_ids: list[str] = []
    for portion in request.iter("ShipNoticePortion"):
        order = portion.find("OrderReference")
        po_number = _attr(order, "orderID") if order is not None else None
        if po_number:
            order_ids.append(po_number)
        for item in portion.iter("ShipNoticeItem"):
            lines.append(_ship_line(item, po_number, len(lines) + 1))
    return ShipNotice(
        asn_number=_required_attr(header, "shipmentID", "ShipNoticeHeader"),
        supplier_id=ctx.supplier_id,
        ship_date=_date(_attr(header, "shipmentDate"), "ShipNoticeHeader/@shipmentDate"),
        expected_delivery=_date(_attr(header, "deliveryDate"), "ShipNoticeHeader/@deliveryDate"),
        carrier=carrier,
        tracking_number=text_of(control.find("ShipmentIdentifier"))
        if control is not None
        else None,
        ship_from=_party(header, "shipFrom", "ShipFrom"),
        ship_to=_party(header, "shipTo", "ShipTo"),
        issued_at=env.timestamp,
        control_number=env.payload_id,
        lines=lines,
        codes=_codes(
            {
                "ShipNoticeHeader.noticeDate": _attr(header, "noticeDate"),
                "CarrierIdentifier.domain": carrier_domain,
                "OrderReference.orderID": ",".join(order_ids) or None,
            }
        ),
    )


def _carrier(control: ET.Element | None) -> tuple[str | None, str | None]:
    if control is None:
        return None, None
    carriers = [c for c in control.findall("CarrierIdentifier") if text_of(c)]
    scac = [c for c in carriers if (c.get("domain") or "").upper() == "SCAC"]
    if not carriers:
        return None, None
    chosen = (scac or carriers)[0]
    return text_of(chosen), _attr(chosen, "domain")


def _party(header: ET.Element, role: str, element: str) -> str | None:
    for contact in header.findall("Contact"):
        if contact.get("role") == role:
            return _party_id(contact)
    address = header.find(f"{element}/Address")
    return _party_id(address) if address is not None else None


def _party_id(party: ET.Element) -> str | None:
    ref = party.find("IdReference")
    return (
        _attr(party, "addressID")
        or (_attr(ref, "identifier") if ref is not None else None)
        or text_of(party.find("Name"))
    )


def _ship_line(item: ET.Element, po_number: str | None, position: int) -> ShipNoticeLine:
    where = f"ShipNoticeItem[{position}]"
    seq = _number(_attr(item, "shipNoticeLineNumber"), f"{where}/@shipNoticeLineNumber")
    if seq is not None and (not isinstance(seq, int) or seq < 0):
        raise PayloadError(
            f"shipNoticeLineNumber must be a whole number, got {seq!r}",
            where=f"{where}/@shipNoticeLineNumber",
            kind="validation",
        )
    serial = next((t for e in item.iter("ShippingContainerSerialCode") if (t := text_of(e))), None)
    return ShipNoticeLine(
        line_seq=seq if seq is not None else position,
        po_number=po_number,
        po_line_number=_attr(item, "lineNumber"),
        sku=_first_text(item, "ItemID/SupplierPartID"),
        shipped_qty=_number(_attr(item, "quantity"), f"{where}/@quantity"),
        uom=_first_text(item, "UnitOfMeasure"),
        container_id=serial,
        lot=_first_text(item, "Batch/SupplierBatchID"),
    )


# -- ProductActivityMessage --------------------------------------------------------------


_SnapshotKey = tuple[str, dt.datetime, dt.datetime | None, str | None]
"""(location, as_of, envelope timestamp, payloadID): a snapshot and its version."""


def _inventory(body: Body, ctx: DecodeContext) -> Iterator[InventorySnapshot]:
    def records() -> Iterator[tuple[_SnapshotKey, tuple[InventoryItem, dict[str, str]]]]:
        with body.open() as stream:
            yield from _activity_records(stream, ctx)

    grouped = parts_by_key(records, spooled=body.spooled, max_items=ctx.max_items_per_part)
    for (warehouse_id, as_of, issued_at, control_number), part in grouped:
        yield InventorySnapshot(
            warehouse_id=warehouse_id,
            as_of=as_of,
            supplier_id=ctx.supplier_id,
            issued_at=issued_at,
            control_number=control_number,
            items=[item for item, _ in part],
            codes=dict(part[0][1]),
        )


def _activity_records(
    stream: BinaryIO, ctx: DecodeContext
) -> Iterator[tuple[_SnapshotKey, tuple[InventoryItem, dict[str, str]]]]:
    """Stream ``((location, as_of, version), (item, snapshot codes))``, one per activity
    detail."""
    as_of: dt.datetime | None = None
    header: dict[str, str] = {}
    current: _Envelope | None = None
    count = 0
    for envelope, elem in _walk(stream, ctx, children=True):
        if envelope is not current:  # a new cXML document of a batch
            current, as_of, header = (
                envelope,
                envelope.timestamp,
                _codes({"payloadID": envelope.payload_id}),
            )
        if elem.tag == "ProductActivityHeader":
            created = _datetime(_attr(elem, "creationDate"), "ProductActivityHeader/@creationDate")
            as_of = created or envelope.timestamp
            header = _codes(_header_codes(elem, envelope))
        elif elem.tag == "ProductActivityDetails":
            count += 1
            record = _activity_item(elem, f"ProductActivityDetails[{count}]", ctx)
            if record is not None:
                key = (record[0], _as_of(as_of, count), envelope.timestamp, envelope.payload_id)
                yield key, (record[1], header)


def _header_codes(elem: ET.Element, envelope: _Envelope) -> dict[str, str | None]:
    return {
        "ProductActivityHeader.messageID": _attr(elem, "messageID"),
        "ProductActivityHeader.processType": _attr(elem, "processType"),
        "payloadID": envelope.payload_id,
    }


def _as_of(as_of: dt.datetime | None, count: int) -> dt.datetime:
    if as_of is None:
        raise PayloadError(
            "ProductActivityMessage has neither a creationDate nor an envelope timestamp",
            where=f"ProductActivityDetails[{count}]",
            kind="validation",
        )
    return as_of


def _activity_item(
    details: ET.Element, where: str, ctx: DecodeContext
) -> tuple[str, InventoryItem] | None:
    sku = _first_text(details, "ItemID/SupplierPartID")
    if sku is None:
        raise PayloadError(
            "product activity without a SupplierPartID", where=where, kind="validation"
        )
    quantities = _inventory_quantities(details.find("Inventory"), where)
    stock = quantities.get("StockOnHandQuantity") or quantities.get("UnrestrictedUseQuantity")
    if stock is None:
        ctx.warn(f"{where}: no stock-on-hand or unrestricted quantity; skipped")
        return None
    location, role = _location(details, where)
    available = quantities.get("UnrestrictedUseQuantity")
    codes = {name: str(qty) for name, (qty, _uom) in quantities.items() if name not in _MAPPED}
    codes.update(_codes({"BuyerPartID": _first_text(details, "ItemID/BuyerPartID"), "role": role}))
    item = InventoryItem(
        sku=sku,
        on_hand=stock[0],
        available=available[0] if available is not None else None,
        uom=stock[1] or "EA",
        codes=codes,
    )
    return location, item


_MAPPED = frozenset({"StockOnHandQuantity", "UnrestrictedUseQuantity"})


def _inventory_quantities(
    inventory: ET.Element | None, where: str
) -> dict[str, tuple[Quantity, str | None]]:
    if inventory is None:
        return {}
    found: dict[str, tuple[Quantity, str | None]] = {}
    for child in inventory:
        if not child.tag.endswith("Quantity"):
            continue
        qty = _number(_attr(child, "quantity"), f"{where}/Inventory/{child.tag}/@quantity")
        if qty is not None:
            found[child.tag] = (qty, text_of(child.find("UnitOfMeasure")))
    return found


def _location(details: ET.Element, where: str) -> tuple[str, str | None]:
    contacts = details.findall("Contact")
    by_role = {c.get("role"): c for c in reversed(contacts)}
    chosen = next((by_role[r] for r in _LOCATION_ROLES if r in by_role), None)
    chosen = chosen if chosen is not None else (contacts[0] if contacts else None)
    location = _party_id(chosen) if chosen is not None else None
    if location is None:
        raise PayloadError(
            "product activity without a location Contact",
            where=f"{where}/Contact",
            kind="validation",
        )
    assert chosen is not None
    return location, chosen.get("role")


# -- value helpers -------------------------------------------------------------------------


def _attr(elem: ET.Element | None, name: str) -> str | None:
    """An attribute's value, stripped; ``None`` when absent or blank."""
    if elem is None:
        return None
    value = elem.get(name)
    if value is None:
        return None
    return value.strip() or None


def _first_text(elem: ET.Element, path: str) -> str | None:
    """The first non-blank text at ``path`` (tags joined by ``/``), in document order.

    Walked a step at a time with ``findall`` of one tag, which ElementTree does in C;
    ``iterfind`` of the whole path goes through ElementPath in Python, at several µs a
    call, twice an item.
    """
    step, _, rest = path.partition("/")
    for child in elem.findall(step):
        text = _first_text(child, rest) if rest else text_of(child)
        if text is not None:
            return text
    return None


def _required(parent: ET.Element, tag: str, where: str) -> ET.Element:
    found = parent.find(tag)
    if found is None:
        raise PayloadError(f"{where} without {tag}", where=f"{where}/{tag}", kind="validation")
    return found


def _required_attr(elem: ET.Element, name: str, where: str) -> str:
    value = _attr(elem, name)
    if value is None:
        raise PayloadError(
            f"{elem.tag} without {name}", where=f"{where}/@{name}", kind="validation"
        )
    return value


def _codes(values: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def _datetime(text: str | None, where: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise PayloadError(
            f"not an ISO 8601 date-time: {text!r}", where=where, kind="validation"
        ) from exc


def _date(text: str | None, where: str) -> dt.date | None:
    value = _datetime(text, where)
    return value.date() if value is not None else None


def _number(text: str | None, where: str) -> Quantity | None:
    """A quantity as written: whole numbers stay ``int``, others are ``float``.

    Only plain decimal notation is accepted (no ``1_000``, no ``nan``, no Arabic-Indic
    digits), which Python's ``int``/``float`` would otherwise let through.
    """
    if text is None:
        return None
    if _INTEGER.fullmatch(text) and len(text) < 30:
        return int(text)
    if _DECIMAL.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
    raise PayloadError(f"not a number: {text!r}", where=where, kind="validation")


def _price(text: str | None, where: str) -> float | None:
    value = _number(text, where)
    return float(value) if value is not None else None
