"""cXML as a supplier's system would send it, readable by ``supplyfeed._formats.cxml``.

- PO acks become ``ConfirmationRequest``, ship notices ``ShipNoticeRequest``, inventory
  snapshots ``ProductActivityMessage`` (one message per ``as_of`` and version, one
  ``ProductActivityDetails`` per item, the warehouse as ``Contact role=locationFrom``).
- cXML carries one request per envelope, so several documents are served as a batch:
  ``<cXMLBatch>`` around one ``<cXML>`` per document (the decoder reads both forms).
- The mapping is the decoder's, inverted: ``status`` becomes ``ConfirmationHeader@type``
  (``None`` becomes ``detail``, which the decoder resolves from the lines), ``line_status``
  ``ConfirmationStatus@type`` (``None`` is ``unknown``), ``issued_at``/``control_number``
  the envelope ``timestamp``/``payloadID`` (omitted when ``None``, which the decoder
  tolerates), ``line_seq`` ``shipNoticeLineNumber``.
- What cXML cannot say is not said: ``codes`` are not rendered (the decoder records the
  raw codes it reads instead), surrounding whitespace of values is layout to the decoder,
  and an inventory snapshot without items has no ``ProductActivityDetails`` to carry it.

``seed`` picks the layout (indented or not) and names inventory messages, so two seeds
give different bytes for the same documents.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections.abc import Iterable, Sequence
from itertools import groupby

from ..._models import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    ShipNotice,
    ShipNoticeLine,
)

__all__ = ["escape_attr", "escape_text", "number", "render"]

DOCTYPE = '<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.050/cXML.dtd">'

_HEADER_TYPE = {
    "accepted": "accept",
    "rejected": "reject",
    "accepted_with_changes": "except",
    "backordered": "backordered",
}
_LINE_TYPE = {
    "accepted": "accept",
    "rejected": "reject",
    "backordered": "backordered",
    "accepted_with_changes": "detail",
}
_SCAC = re.compile(r"[A-Z]{2,4}")
# Characters XML 1.0 cannot carry at all, even as character references.
_UNREPRESENTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def render(docs: Sequence[Document], kind: DocKind, *, seed: int = 0) -> bytes:
    """``docs`` (all of ``kind``) as one cXML document, or a ``cXMLBatch`` of several."""
    rng = random.Random(seed)
    indent = rng.choice(("", "  "))
    envelopes = [
        _envelope(payload, timestamp, payload_id, supplier)
        for payload, timestamp, payload_id, supplier in _payloads(docs, kind, rng)
    ]
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    if len(envelopes) == 1:
        body = head + DOCTYPE + "\n" + _layout(envelopes[0], indent)
    else:
        body = head + _layout(_el("cXMLBatch", {}, envelopes), indent)
    return body.encode("utf-8")


_Payload = tuple["_Node", dt.datetime | None, str | None, str]


def _payloads(docs: Sequence[Document], kind: DocKind, rng: random.Random) -> list[_Payload]:
    if kind is DocKind.INVENTORY_SNAPSHOT:
        snapshots = [d for d in docs if isinstance(d, InventorySnapshot)]
        return _activity_messages(snapshots, rng)
    out: list[_Payload] = []
    for doc in docs:
        if isinstance(doc, PoAck) and kind is DocKind.PO_ACK:
            request = _el("Request", {"deploymentMode": "production"}, [_confirmation(doc)])
        elif isinstance(doc, ShipNotice) and kind is DocKind.SHIP_NOTICE:
            request = _el("Request", {"deploymentMode": "production"}, [_ship_notice(doc)])
        else:
            raise ValueError(f"{type(doc).__name__} is not a {kind.value} document")
        out.append((request, doc.issued_at, doc.control_number, doc.supplier_id))
    return out


# -- a tiny element model, so layout is decided once -----------------------------------


class _Node:
    __slots__ = ("attrs", "children", "tag", "text")

    def __init__(
        self, tag: str, attrs: dict[str, str | None], children: list[_Node], text: str | None
    ) -> None:
        self.tag = tag
        self.attrs = {k: v for k, v in attrs.items() if v is not None}
        self.children = children
        self.text = text


def _el(
    tag: str,
    attrs: dict[str, str | None] | None = None,
    children: Iterable[_Node | None] = (),
    text: str | None = None,
) -> _Node:
    return _Node(tag, attrs or {}, [c for c in children if c is not None], text)


def _layout(node: _Node, indent: str, depth: int = 0) -> str:
    pad = "\n" + indent * depth if indent else ""
    attrs = "".join(f' {k}="{escape_attr(v)}"' for k, v in node.attrs.items())
    if node.text is not None:
        return f"{pad}<{node.tag}{attrs}>{escape_text(node.text)}</{node.tag}>"
    if not node.children:
        return f"{pad}<{node.tag}{attrs}/>"
    inner = "".join(_layout(child, indent, depth + 1) for child in node.children)
    return f"{pad}<{node.tag}{attrs}>{inner}{pad}</{node.tag}>"


def escape_text(value: str) -> str:
    """Character data: ``&``, ``<``, ``>`` and ``\\r`` (which parsers would normalise)."""
    _check(value)
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def escape_attr(value: str) -> str:
    """Attribute values: also quotes and whitespace that attribute normalisation would eat."""
    return escape_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _check(value: str) -> None:
    if _UNREPRESENTABLE.search(value):
        raise ValueError(f"XML 1.0 cannot represent {value!r}")


def number(value: float) -> str:
    """A quantity as the decoders read it back: ``int`` as digits, ``float`` by ``repr``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"XML feeds carry finite quantities only, got {value!r}")
    return str(value) if isinstance(value, int) else repr(float(value))


def _opt_number(value: float | None) -> str | None:
    return number(value) if value is not None else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- envelope ----------------------------------------------------------------------------


def _envelope(
    payload: _Node, timestamp: dt.datetime | None, payload_id: str | None, supplier: str
) -> _Node:
    def credential(identity: str) -> _Node:
        return _el("Credential", {"domain": "NetworkID"}, [_el("Identity", text=identity)])

    supplier_id = supplier or "supplier"
    header = _el(
        "Header",
        children=[
            _el("From", children=[credential(supplier_id)]),
            _el("To", children=[credential("buyer")]),
            _el(
                "Sender",
                children=[credential(supplier_id), _el("UserAgent", text="supplyfeed simulator")],
            ),
        ],
    )
    attrs = {"payloadID": payload_id, "timestamp": _iso(timestamp), "xml:lang": "en-US"}
    return _el("cXML", attrs, [header, payload])


# -- ConfirmationRequest -----------------------------------------------------------------


def _confirmation(ack: PoAck) -> _Node:
    header_type = _HEADER_TYPE.get(ack.status, ack.status) if ack.status else "detail"
    header = _el(
        "ConfirmationHeader",
        {
            "confirmID": ack.ack_number,
            "operation": "new",
            "type": header_type,
            "noticeDate": _iso(ack.ack_date),
        },
    )
    order = _el(
        "OrderReference", {"orderID": ack.po_number}, [_el("DocumentReference", {"payloadID": ""})]
    )
    return _el("ConfirmationRequest", children=[header, order, *map(_confirmation_item, ack.lines)])


def _confirmation_item(line: PoAckLine) -> _Node:
    uom = _el("UnitOfMeasure", text=line.uom) if line.uom is not None else None
    price = None
    if line.unit_price is not None:
        money = _el("Money", {"currency": "USD"}, text=number(line.unit_price))
        price = _el("UnitPrice", children=[money])
    sku = _el("Extrinsic", {"name": "SupplierPartID"}, text=line.sku) if line.sku else None
    status_type = (
        _LINE_TYPE.get(line.line_status, line.line_status) if line.line_status else "unknown"
    )
    status = _el(
        "ConfirmationStatus",
        {
            "quantity": _opt_number(line.acked_qty),
            "type": status_type,
            "deliveryDate": _iso(line.promised_date),
        },
        [uom, price, sku],
    )
    attrs = {"quantity": _opt_number(line.ordered_qty), "lineNumber": line.line_number}
    return _el("ConfirmationItem", attrs, [uom, status])


# -- ShipNoticeRequest -------------------------------------------------------------------


def _ship_notice(notice: ShipNotice) -> _Node:
    notice_date = notice.issued_at.isoformat() if notice.issued_at else _iso(notice.ship_date)
    parties = [
        _contact(role, value)
        for role, value in (("shipFrom", notice.ship_from), ("shipTo", notice.ship_to))
        if value is not None
    ]
    header = _el(
        "ShipNoticeHeader",
        {
            "shipmentID": notice.asn_number,
            "noticeDate": notice_date,
            "shipmentDate": _iso(notice.ship_date),
            "deliveryDate": _iso(notice.expected_delivery),
        },
        parties,
    )
    portions = [
        _portion(po_number, list(lines))
        for po_number, lines in groupby(notice.lines, key=lambda line: line.po_number)
    ]
    return _el("ShipNoticeRequest", children=[header, _ship_control(notice), *portions])


def _contact(role: str, party: str) -> _Node:
    return _el(
        "Contact", {"role": role, "addressID": party}, [_el("Name", {"xml:lang": "en"}, text=party)]
    )


def _ship_control(notice: ShipNotice) -> _Node | None:
    if notice.carrier is None and notice.tracking_number is None:
        return None
    carrier = None
    if notice.carrier is not None:
        domain = "SCAC" if _SCAC.fullmatch(notice.carrier) else "companyName"
        carrier = _el("CarrierIdentifier", {"domain": domain}, text=notice.carrier)
    tracking = notice.tracking_number
    shipment = _el("ShipmentIdentifier", text=tracking) if tracking is not None else None
    return _el("ShipControl", children=[carrier, shipment])


def _portion(po_number: str | None, lines: list[ShipNoticeLine]) -> _Node:
    order = _el(
        "OrderReference",
        {"orderID": po_number or ""},
        [_el("DocumentReference", {"payloadID": ""})],
    )
    return _el("ShipNoticePortion", children=[order, *map(_ship_item, lines)])


def _ship_item(line: ShipNoticeLine) -> _Node:
    item_id = _el("ItemID", children=[_el("SupplierPartID", text=line.sku)]) if line.sku else None
    uom = _el("UnitOfMeasure", text=line.uom) if line.uom is not None else None
    packaging = None
    if line.container_id is not None:
        serial = _el("ShippingContainerSerialCode", text=line.container_id)
        packaging = _el("Packaging", children=[serial])
    batch = None
    if line.lot is not None:
        batch = _el("Batch", children=[_el("SupplierBatchID", text=line.lot)])
    attrs = {
        "shipNoticeLineNumber": str(line.line_seq),
        "lineNumber": line.po_line_number,
        "quantity": _opt_number(line.shipped_qty),
    }
    return _el("ShipNoticeItem", attrs, [item_id, uom, packaging, batch])


# -- ProductActivityMessage --------------------------------------------------------------


_Instant = tuple[dt.datetime, dt.datetime | None, str | None]  # as_of, issued_at, control


def _activity_messages(snapshots: list[InventorySnapshot], rng: random.Random) -> list[_Payload]:
    """One message per instant and version: a ProductActivityHeader has one creationDate,
    an envelope one timestamp (``issued_at``) and payloadID (``control_number``)."""
    by_instant: dict[_Instant, list[InventorySnapshot]] = {}
    for snapshot in snapshots:
        instant = (snapshot.as_of, snapshot.issued_at, snapshot.control_number)
        by_instant.setdefault(instant, []).append(snapshot)
    out: list[_Payload] = []
    for n, ((as_of, issued_at, control_number), group) in enumerate(by_instant.items(), start=1):
        message_id = f"SIM{rng.randrange(10**9):09d}-{n}"
        header = _el(
            "ProductActivityHeader",
            {"messageID": message_id, "creationDate": as_of.isoformat(), "processType": "SMI"},
        )
        details = [_details(s.warehouse_id, item) for s in group for item in s.items]
        message = _el("ProductActivityMessage", children=[header, *details])
        supplier = group[0].supplier_id
        out.append((_el("Message", children=[message]), issued_at, control_number, supplier))
    return out


def _details(warehouse_id: str, item: InventoryItem) -> _Node:
    location = _el(
        "Contact",
        {"role": "locationFrom"},
        [
            _el("Name", {"xml:lang": "en"}, text=warehouse_id),
            _el("IdReference", {"domain": "NetworkId", "identifier": warehouse_id}),
        ],
    )
    quantities = [_quantity("StockOnHandQuantity", item.on_hand, item.uom)]
    if item.available is not None:
        quantities.append(_quantity("UnrestrictedUseQuantity", item.available, item.uom))
    item_id = _el("ItemID", children=[_el("SupplierPartID", text=item.sku)])
    return _el(
        "ProductActivityDetails",
        children=[item_id, location, _el("Inventory", children=quantities)],
    )


def _quantity(tag: str, value: float, uom: str) -> _Node:
    return _el(tag, {"quantity": number(value)}, [_el("UnitOfMeasure", text=uom)])
