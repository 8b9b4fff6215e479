"""Generic supplier XML: one flat record per line, read back through :data:`MAPPINGS`.

The shape is the one most partner XML exports have: a root element, one record element
per line item, the document's header fields repeated on every record as attributes and
the line's fields as child elements. A document without lines is one record with no
line children (the mapped-XML decoder reads it as a header-only document). ``codes`` and
``supplier_id`` are not written: a generic feed's supplier comes from the feeds file.

``MAPPINGS`` is what the feeds file of such a feed must carry, one per kind; the
simulator hands it to the decoder.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from typing import Any, Final

from ..._config import FieldMapping
from ..._models import DOCUMENT_TYPES, DocKind, Document
from .cxml import escape_attr, escape_text, number

__all__ = ["MAPPINGS", "SHAPES", "render"]

# kind -> (root tag, record tag, header attribute per field, line element per field)
SHAPES: Final[dict[DocKind, tuple[str, str, dict[str, str], dict[str, str]]]] = {
    DocKind.INVENTORY_SNAPSHOT: (
        "StockReport",
        "Item",
        {
            "warehouse_id": "warehouse",
            "as_of": "asOf",
            "issued_at": "issued",
            "control_number": "control",
        },
        {"sku": "Sku", "on_hand": "OnHand", "available": "Available", "uom": "Uom"},
    ),
    DocKind.PO_ACK: (
        "OrderAcknowledgements",
        "AckLine",
        {
            "po_number": "po",
            "ack_number": "ack",
            "ack_date": "ackDate",
            "status": "status",
            "issued_at": "issued",
            "control_number": "control",
        },
        {
            "line_number": "LineNumber",
            "sku": "Sku",
            "ordered_qty": "OrderedQty",
            "acked_qty": "AckedQty",
            "uom": "Uom",
            "unit_price": "UnitPrice",
            "line_status": "LineStatus",
            "promised_date": "PromisedDate",
        },
    ),
    DocKind.SHIP_NOTICE: (
        "Shipments",
        "ShipmentLine",
        {
            "asn_number": "asn",
            "ship_date": "shipDate",
            "expected_delivery": "deliveryDate",
            "carrier": "carrier",
            "tracking_number": "tracking",
            "ship_from": "from",
            "ship_to": "to",
            "issued_at": "issued",
            "control_number": "control",
        },
        {
            "line_seq": "Seq",
            "po_number": "PoNumber",
            "po_line_number": "PoLine",
            "sku": "Sku",
            "shipped_qty": "Quantity",
            "uom": "Uom",
            "container_id": "SSCC",
            "lot": "Lot",
        },
    ),
}


def _mapping(kind: DocKind) -> FieldMapping:
    root, record, header, line = SHAPES[kind]
    fields = {name: f"@{attr}" for name, attr in header.items()}
    fields.update(line)
    return FieldMapping(records=f"{root}/{record}", fields=fields)


MAPPINGS: Final[dict[DocKind, FieldMapping]] = {kind: _mapping(kind) for kind in DocKind}

_LINES: Final[dict[DocKind, str]] = {
    DocKind.INVENTORY_SNAPSHOT: "items",
    DocKind.PO_ACK: "lines",
    DocKind.SHIP_NOTICE: "lines",
}


def render(docs: Sequence[Document], kind: DocKind, *, seed: int = 0) -> bytes:
    """``docs`` as one generic XML file of ``kind``; ``seed`` picks the indentation."""
    indent = random.Random(seed).choice(("", "\n  "))
    root, record, header_attrs, line_elems = SHAPES[kind]
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<{root} generator="supplyfeed">']
    for doc in docs:
        if not isinstance(doc, DOCUMENT_TYPES[kind]):
            raise ValueError(f"{type(doc).__name__} is not a {kind.value} document")
        attrs = "".join(
            f' {attr}="{escape_attr(text)}"'
            for name, attr in header_attrs.items()
            if (text := _text(getattr(doc, name))) is not None
        )
        lines: list[Any] = getattr(doc, _LINES[kind])
        for line in lines or [None]:
            children = "".join(_children(line, line_elems)) if line is not None else ""
            parts.append(f"{indent}<{record}{attrs}>{children}</{record}>")
    parts.append(f"{indent[:1]}</{root}>\n")
    return "".join(parts).encode("utf-8")


def _children(line: Any, elements: dict[str, str]) -> Iterator[str]:
    for name, tag in elements.items():
        text = _text(getattr(line, name))
        if text is not None:
            yield f"<{tag}>{escape_text(text)}</{tag}>"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date):  # datetimes too: ISO 8601 / RFC 3339
        return value.isoformat()
    if isinstance(value, bool):
        raise ValueError("no canonical field is a boolean")
    if isinstance(value, int | float):
        return number(value)
    raise ValueError(f"cannot render {value!r} as XML text")
