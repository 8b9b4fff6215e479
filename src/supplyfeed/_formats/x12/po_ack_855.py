"""X12 855 Purchase Order Acknowledgment → :class:`PoAck`.

Header
- ``po_number`` = BAK03. ``ack_number`` = BAK08 (the seller's order/reference number);
  when BAK08 is absent the PO number stands in, so an acknowledgment without a number of
  its own is *the* acknowledgment of its PO and a later one replaces it (version rule).
- ``ack_date`` = BAK09, the date the seller gave the acknowledgment; BAK04 is by the
  standard's note the date of the *purchase order*, used only when BAK09 is absent.
- ``status`` from BAK02 (element 587, acknowledgment type):
  AD, AK, AP, AT → accepted; AC, AE → accepted_with_changes (AE details exceptions only);
  AH → on_hold; RD, RF, RJ, RN, RO, RV → rejected; NA, ZZ and unknown codes → None.
- ``issued_at`` = GS04/GS05 (the group's creation date and time, the only creation time an
  855 carries), ``control_number`` = ISA13 then ST02 (``values.control_number``: 18
  digits, so a correction in a later interchange is newer whatever its ST02).

Lines: one per PO1 (PO101 line number, else the PO1's ordinal; PO102 ordered quantity,
PO103 unit, PO104 unit price, product ids from PO106 on, chosen by ``SKU_PRIORITY``).
A CTP after the PO1 gives the acknowledged unit price (X358 aerospace practice for a price
change, ACK IP); the ordered price is then kept in ``codes["PO104"]``.

ACK segments (element 668, line item status), several allowed per line; the line's status
is the most severe of its ACK codes, in this order:
  IR, R1-R8 → rejected; ID → cancelled; IB, BP → backordered; IH, IF, IW → on_hold;
  IC, IP, IQ, IS, DR → accepted_with_changes; IA, IE, AR, AC, SP → accepted.
All raw ACK01 codes are kept in ``codes["ACK01"]`` (comma-separated, in order).
``acked_qty`` = the first ACK02 given. ``promised_date`` = the first ACK05 (its ACK04
qualifier in ``codes["promised"]``), else a line DTM or SCH date, else a header DTM
with a delivery/ship qualifier (a header date applies to every line).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from ..._exceptions import PayloadError
from ..._models import PoAck, PoAckLine, Quantity
from ..base import DecodeContext
from .envelope import Transaction
from .tokenizer import Segment
from .values import (
    SKU_PRIORITY,
    control_number,
    element,
    parse_date,
    parse_datetime,
    parse_number,
    product_id,
    text,
)

__all__ = ["ACK_STATUS", "BAK_STATUS", "map_855"]

BAK_STATUS: Final[dict[str, str]] = {
    "AD": "accepted",
    "AK": "accepted",
    "AP": "accepted",
    "AT": "accepted",
    "AC": "accepted_with_changes",
    "AE": "accepted_with_changes",
    "AH": "on_hold",
    "RD": "rejected",
    "RF": "rejected",
    "RJ": "rejected",
    "RN": "rejected",
    "RO": "rejected",
    "RV": "rejected",
}

ACK_STATUS: Final[dict[str, str]] = {
    **dict.fromkeys(("IR", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"), "rejected"),
    "ID": "cancelled",
    "IB": "backordered",
    "BP": "backordered",
    "IH": "on_hold",
    "IF": "on_hold",
    "IW": "on_hold",
    **dict.fromkeys(("IC", "IP", "IQ", "IS", "DR"), "accepted_with_changes"),
    **dict.fromkeys(("IA", "IE", "AR", "AC", "SP"), "accepted"),
}

_SEVERITY: Final[tuple[str, ...]] = (
    "rejected",
    "cancelled",
    "backordered",
    "on_hold",
    "accepted_with_changes",
    "accepted",
)

# DTM01 / SCH05 qualifiers (element 374) that say when goods ship or arrive.
PROMISE_QUALIFIERS: Final[frozenset[str]] = frozenset(
    {"002", "010", "017", "037", "038", "067", "068", "069", "074", "079", "106"}
)


@dataclass(slots=True)
class _Line:
    line: PoAckLine
    acks: list[str] = field(default_factory=list)
    acked_qty: Quantity | None = None
    promised: tuple[dt.date, str] | None = None
    fallback: tuple[dt.date, str] | None = None


def map_855(txn: Transaction, ctx: DecodeContext) -> Iterator[PoAck]:
    """The acknowledgment of one 855 transaction set."""
    header: PoAck | None = None
    lines = _Lines()
    for seg in txn.segments():
        if seg[0] == "BAK":
            header = _bak(seg, txn, ctx)
        else:
            lines.read(seg, txn)
    if header is None:
        raise PayloadError(
            "855 transaction set has no BAK segment",
            where=f"segment {txn.position} (ST)",
            kind="validation",
        )
    header.lines = [_finish(line, lines.header_date) for line in lines.lines]
    yield header


class _Lines:
    """The PO1 lines of an 855 with what follows each (ACK, CTP, dates), and the header's
    date (a DTM or SCH before the first PO1)."""

    __slots__ = ("header_date", "lines")

    def __init__(self) -> None:
        self.lines: list[_Line] = []
        self.header_date: tuple[dt.date, str] | None = None

    def read(self, seg: Segment, txn: Transaction) -> None:
        tag, lines = seg[0], self.lines
        if tag == "PO1":
            lines.append(_Line(_po1(seg, txn, len(lines) + 1)))
        elif tag == "ACK" and lines:
            _ack(seg, lines[-1], txn)
        elif tag == "CTP" and lines:
            _ctp(seg, lines[-1].line, txn)
        elif tag in ("DTM", "SCH"):
            self._dated(_dated(seg, txn))

    def _dated(self, found: tuple[dt.date, str] | None) -> None:
        if found is None:
            return
        if self.lines:
            self.lines[-1].fallback = self.lines[-1].fallback or found
        elif self.header_date is None:
            self.header_date = found


def _bak(seg: Segment, txn: Transaction, ctx: DecodeContext) -> PoAck:
    at = txn.where(seg)
    po_number = text(element(seg, 3))
    if not po_number:
        raise PayloadError("BAK03 (PO number) is empty", where=at, kind="validation")
    ack_type = element(seg, 2)
    ack_number = text(element(seg, 8))
    codes = {"BAK01": element(seg, 1), "BAK02": ack_type}
    if not ack_number:
        ack_number, codes["ack_number"] = po_number, "BAK03"
    ack_date_raw = element(seg, 9) or element(seg, 4)
    return PoAck(
        po_number=po_number,
        ack_number=ack_number,
        supplier_id=ctx.supplier_id,
        ack_date=parse_date(ack_date_raw, at, "BAK09") if ack_date_raw else None,
        status=BAK_STATUS.get(ack_type),
        issued_at=_issued_at(txn),
        control_number=control_number(element(txn.interchange, 13), txn.control),
        codes={k: v for k, v in codes.items() if v},
    )


def _issued_at(txn: Transaction) -> dt.datetime | None:
    date = element(txn.group, 4)
    if not date:
        return None
    return parse_datetime(date, element(txn.group, 5), "", "GS segment", "GS04/GS05")


def _po1(seg: Segment, txn: Transaction, ordinal: int) -> PoAckLine:
    at = txn.where(seg)
    sku, qualifier = product_id(seg, 6, SKU_PRIORITY)
    qty, price = element(seg, 2), element(seg, 4)
    return PoAckLine(
        line_number=text(element(seg, 1)) or str(ordinal),
        sku=sku,
        ordered_qty=parse_number(qty, at, "PO102") if qty else None,
        uom=element(seg, 3) or None,
        unit_price=float(parse_number(price, at, "PO104")) if price else None,
        codes={"sku": qualifier} if qualifier else {},
    )


def _ack(seg: Segment, state: _Line, txn: Transaction) -> None:
    at = txn.where(seg)
    state.acks.append(element(seg, 1))
    qty = element(seg, 2)
    if qty and state.acked_qty is None:
        state.acked_qty = parse_number(qty, at, "ACK02")
    if state.line.uom is None:
        state.line.uom = element(seg, 3) or None
    date = element(seg, 5)
    if date and state.promised is None:
        state.promised = (parse_date(date, at, "ACK05"), element(seg, 4))
    substitute, qualifier = product_id(seg, 7, ())
    if substitute and element(seg, 1) == "IS":
        state.line.codes[f"substitute_{qualifier}"] = substitute


def _ctp(seg: Segment, line: PoAckLine, txn: Transaction) -> None:
    price = element(seg, 3)
    if not price:
        return
    if line.unit_price is not None:
        line.codes["PO104"] = f"{line.unit_price:g}"
    line.unit_price = float(parse_number(price, txn.where(seg), "CTP03"))


def _dated(seg: Segment, txn: Transaction) -> tuple[dt.date, str] | None:
    """(date, qualifier) of a DTM with a promise qualifier, or of an SCH."""
    if seg[0] == "DTM":
        qualifier, date = element(seg, 1), element(seg, 2)
        if qualifier not in PROMISE_QUALIFIERS:
            return None
    else:
        qualifier, date = element(seg, 5), element(seg, 6)
    if not date:
        return None
    return parse_date(date, txn.where(seg), f"{seg[0]} date"), qualifier


def _finish(state: _Line, header_date: tuple[dt.date, str] | None) -> PoAckLine:
    line = state.line
    if state.acks:
        statuses = {ACK_STATUS.get(code) for code in state.acks}
        line.line_status = next((s for s in _SEVERITY if s in statuses), None)
        line.codes["ACK01"] = ",".join(state.acks)
    line.acked_qty = state.acked_qty
    promised = state.promised or state.fallback or header_date
    if promised is not None:
        line.promised_date = promised[0]
        if promised[1]:
            line.codes["promised"] = promised[1]
    return line
