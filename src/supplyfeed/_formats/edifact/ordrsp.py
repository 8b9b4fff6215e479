"""ORDRSP (purchase order response) -> :class:`~supplyfeed.PoAck`.

Header
    ``BGM`` C106 document number -> ``ack_number``; BGM01 should be 231 (purchase order
    response). ``RFF+ON`` -> ``po_number`` (``""`` with a warning when absent, as in
    responses that refer to order lines by ``RFF+LI`` only, kept as ``codes["RFF+LI"]``).
    ``DTM+137`` (document date) -> ``ack_date``, and ``issued_at`` when it has a time of
    day. ``control_number`` is UNB05, the sender's interchange reference (the only
    counter that grows across transmissions; UNH01 is kept in ``codes``).

BGM03 message function (UNCL 1225) -> ``status``
    29 accepted without amendment -> ``accepted``; 6 confirmation -> ``accepted``;
    4 change, 28/30/34 accepted with amendment -> ``accepted_with_changes``;
    27 not accepted -> ``rejected``; 5 replace -> ``replaced`` (this response replaces an
    earlier one; the lines say what changed); 1 and 3 (cancellation, deletion) ->
    ``cancelled``. Other codes give ``None``. The raw code stays in ``codes["BGM03"]``.

LIN02 action (UNCL 1229) -> ``line_status``
    5 accepted without amendment -> ``accepted``; 3 changed, 6 accepted with amendment,
    24 accepted with amendment (no confirmation required) -> ``accepted_with_changes``;
    7 not accepted and 10 not found -> ``rejected``; 2 deleted -> ``deleted``;
    1 added -> ``added``. A line accepted (or with no action code) whose only
    acknowledged quantity is a backorder quantity (QTY+83) is ``backordered``: that is
    what the EANCOM book-trade responses say with ``QTY+83`` and an FTX status.

Quantities (EANCOM ORDRSP QTY, UNCL 6063)
    21 ordered -> ``ordered_qty``. The acknowledged quantity is the first of 113
    (quantity to be delivered), 12 (despatch quantity), 194 (received and accepted) and
    83 (backorder quantity). The unit (C186 6411) goes to ``uom``.

Items, prices, dates
    ``sku`` is LIN03 (the item number, e.g. a GTIN ``:SRV`` or ``:EN``), else the PIA
    with function 5 (main product id), else a supplier article number (``:SA``), else the
    first PIA id. Other PIA ids are kept in ``codes`` as ``PIA<function>:<type>``.
    ``unit_price`` is PRI AAA (net), else AAB (gross), else AAE/AAF (information
    prices), else the first PRI. ``promised_date`` is DTM 69 (promised delivery), else
    2 (requested delivery, echoed as confirmed), else 44 (availability).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from ..._exceptions import PayloadError
from ..._models import PoAck, PoAckLine
from ..base import DecodeContext
from .envelope import Message
from .tokenizer import Segment
from .values import (
    DateValue,
    first_of,
    parse_decimal,
    parse_dtm,
    parse_quantity,
    pick_sku,
    read_pia,
)

__all__ = ["decode_ordrsp"]

HEADER_STATUS: Final[dict[str, str]] = {
    "29": "accepted",
    "6": "accepted",
    "4": "accepted_with_changes",
    "28": "accepted_with_changes",
    "30": "accepted_with_changes",
    "34": "accepted_with_changes",
    "27": "rejected",
    "5": "replaced",
    "1": "cancelled",
    "3": "cancelled",
}
LINE_STATUS: Final[dict[str, str]] = {
    "5": "accepted",
    "3": "accepted_with_changes",
    "6": "accepted_with_changes",
    "24": "accepted_with_changes",
    "7": "rejected",
    "10": "rejected",
    "2": "deleted",
    "1": "added",
}
ACKED_QTY_ORDER: Final = ("113", "12", "194", "83")
PRICE_ORDER: Final = ("AAA", "AAB", "AAE", "AAF")
PROMISED_ORDER: Final = ("69", "2", "44")


@dataclass(slots=True)
class _Line:
    number: str
    action: str
    item: str
    ids: dict[str, str] = field(default_factory=dict)
    item_type: str = ""  # LIN03's 7143 (SRV: a GTIN)
    quantities: dict[str, tuple[int | float, str]] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    dates: dict[str, DateValue] = field(default_factory=dict)
    order_line: str = ""


@dataclass(slots=True)
class _Header:
    bgm: Segment | None = None
    po_number: str = ""
    issued: DateValue | None = None
    lines: list[_Line] = field(default_factory=list)


def decode_ordrsp(message: Message, ctx: DecodeContext) -> Iterator[PoAck]:
    """The one PoAck of an ORDRSP message."""
    header = _Header()
    for segment in message.body:
        _read(segment, header)
    yield _build(header, message, ctx)


def _read(segment: Segment, header: _Header) -> None:
    tag = segment.tag
    line = header.lines[-1] if header.lines else None
    if tag == "LIN":
        number, action, item = segment.value(1), segment.value(2), segment.value(3)
        header.lines.append(_Line(number, action, item, item_type=segment.value(3, 2)))
    elif tag == "BGM":
        header.bgm = segment
    elif tag == "RFF":
        _read_rff(segment, header, line)
    elif tag == "DTM":
        _read_dtm(segment, header, line)
    elif line is None:
        return
    elif tag == "PIA":
        read_pia(segment, line.ids)
    elif tag == "QTY":
        qualifier = segment.value(1, 1)
        amount = parse_quantity(segment.value(1, 2), segment)
        line.quantities.setdefault(qualifier, (amount, segment.value(1, 3)))
    elif tag == "PRI":
        qualifier = segment.value(1, 1).upper()
        price = float(parse_decimal(segment.value(1, 2), segment))
        line.prices.setdefault(qualifier, price)


def _read_rff(segment: Segment, header: _Header, line: _Line | None) -> None:
    qualifier = segment.value(1, 1).upper()
    if qualifier == "ON" and not header.po_number:
        header.po_number = segment.value(1, 2)
    elif qualifier == "LI" and line is not None:
        line.order_line = segment.value(1, 2)


def _read_dtm(segment: Segment, header: _Header, line: _Line | None) -> None:
    value = parse_dtm(segment)
    if value is None:
        return
    if line is not None:
        line.dates.setdefault(value.qualifier, value)
    elif value.qualifier == "137":
        header.issued = value


def _build(header: _Header, message: Message, ctx: DecodeContext) -> PoAck:
    bgm = header.bgm
    where = message.header.where
    if bgm is None or not bgm.value(2):
        raise PayloadError("ORDRSP without a document number (BGM)", where=where, kind="validation")
    if not header.po_number:
        # EANCOM makes RFF+ON mandatory, yet real responses (book trade) omit it and refer
        # to order lines by RFF+LI only: keep the document, with an empty order number.
        ctx.warn(f"ORDRSP {bgm.value(2)!r} has no order number (RFF+ON) (at {where})")
    function = bgm.value(3)
    codes = {"BGM01": bgm.value(1), "UNH01": message.reference}
    if function:
        codes["BGM03"] = function
    issued = header.issued
    return PoAck(
        po_number=header.po_number,
        ack_number=bgm.value(2),
        supplier_id=ctx.supplier_id,
        ack_date=issued.date if issued else None,
        status=HEADER_STATUS.get(function),
        issued_at=issued.when if issued and issued.has_time else None,
        control_number=message.interchange.reference or None,
        lines=[_build_line(line) for line in header.lines],
        codes=codes,
    )


def _build_line(line: _Line) -> PoAckLine:
    codes: dict[str, str] = {}
    if line.action:
        codes["LIN02"] = line.action
    if line.quantities:
        codes["QTY"] = " ".join(line.quantities)
    if line.order_line:
        codes["RFF+LI"] = line.order_line
    ordered = line.quantities.get("21")
    acked_code = next((q for q in ACKED_QTY_ORDER if q in line.quantities), None)
    acked = line.quantities[acked_code] if acked_code else None
    status = LINE_STATUS.get(line.action)
    if acked_code == "83" and status in (None, "accepted", "accepted_with_changes"):
        status = "backordered"
    sku = pick_sku(line.item, line.ids, codes, line.item_type)
    price = first_of(line.prices, PRICE_ORDER, codes, "PRI", any_=True)
    promised = first_of(line.dates, PROMISED_ORDER, codes, "DTM")
    unit = (acked or ordered or (None, ""))[1]
    return PoAckLine(
        line_number=line.number,
        sku=sku,
        ordered_qty=ordered[0] if ordered else None,
        acked_qty=acked[0] if acked else None,
        uom=unit or None,
        unit_price=price,
        line_status=status,
        promised_date=promised.date if promised else None,
        codes=codes,
    )
