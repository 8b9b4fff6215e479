"""INVRPT (inventory report) -> :class:`~supplyfeed.InventorySnapshot`, one per warehouse.

Header
    ``BGM`` (BGM01 35, inventory report) and ``DTM``: 366 (inventory report date), else 137
    (document date) -> ``as_of``; a report without either is rejected, because ``as_of``
    is part of every position's key. The default warehouse is the header ``LOC`` with
    qualifier 18 (warehouse), else 14 (location of goods), else 19 (factory/plant), else
    the party of ``NAD+WH`` (warehouse keeper), else ``NAD+GY`` (inventory reporting
    party, the stock-holding site in EANCOM's simple report).
    The version (docs/contract.md §6), as for DESADV and ORDRSP: ``issued_at`` is DTM 137 (document
    date) when it has a time of day (a date alone is no order between two reports of one
    day, and stays in ``codes``); ``control_number`` is UNB05, the sender's interchange
    reference. Every part of the message carries the same version.

Lines and locations (EANCOM's extended report)
    ``LIN`` opens an item: ``sku`` is LIN03, else PIA function 5, else ``:SA``, else the
    first PIA id. Each ``QTY`` of the item is one sub-quantity; a ``LOC`` after it (EANCOM
    order QTY-INV-GIN-LOC, or INV-QTY-GIN-LOC) places that sub-quantity in a warehouse
    (LOC C517 3225). A LOC before any QTY of its group places the next QTY. Sub-quantities
    without LOC are in the default warehouse; when there is none the report is rejected
    naming the LIN.

Quantities (EANCOM INVRPT QTY, UNCL 6063)
    ``on_hand`` is the first 145 (actual stock), else the first 17 (quantity on hand), of
    the item in that warehouse: later 145s are sub-quantities split by container or batch
    (EANCOM example: 300 in total, then 150 + 100 + 50). EANCOM has no "available" code:
    198 is quantity *in transit*, not available. So ``available`` is derived, and only when
    the report states what is held back: on hand minus committed (66), quality-control
    held (89) and failed (96), damaged (124), unusable (20) and displayed-not-for-sale
    (249, 35E). Without any of those, ``available`` is ``None``. The unit of the on-hand
    QTY (C186 6411) is ``uom`` (default ``EA``). The qualifiers read stay in ``codes``.

Streaming
    Snapshots are yielded in parts of at most ``ctx.max_items_per_part`` items, and the
    parts of one warehouse are consecutive (the sink joins consecutive parts with one key).
    The first warehouse of a message is flushed as it fills; the others are held until UNT,
    since a later LIN may still add to them. A one-warehouse report therefore streams in
    bounded memory; a multi-location one holds the locations after the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Final

from ..._exceptions import PayloadError
from ..._models import InventoryItem, InventorySnapshot
from ..base import DecodeContext
from .envelope import Message
from .tokenizer import Segment
from .values import DateValue, first_of, parse_dtm, parse_exact, pick_sku, read_pia, to_number

__all__ = ["HELD_BACK", "decode_invrpt"]

ON_HAND: Final = ("145", "17")
HELD_BACK: Final = frozenset({"66", "89", "96", "124", "20", "249", "35E"})
AS_OF_ORDER: Final = ("366", "137")
LOC_ORDER: Final = ("18", "14", "19")
NAD_ORDER: Final = ("WH", "GY")


@dataclass(slots=True)
class _Sub:
    qualifier: str
    amount: int | Decimal
    unit: str
    location: str | None = None
    loc_qualifier: str = ""


@dataclass(slots=True)
class _Item:
    segment: Segment
    sku: str | None = None
    ids: dict[str, str] = field(default_factory=dict)
    subs: list[_Sub] = field(default_factory=list)
    pending_loc: tuple[str, str] | None = None


@dataclass(slots=True)
class _Header:
    bgm: Segment | None = None
    dates: dict[str, DateValue] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    parties: dict[str, str] = field(default_factory=dict)


class _Snapshots:
    """Items per warehouse, flushed in parts that keep each warehouse consecutive."""

    def __init__(self, message: Message, ctx: DecodeContext, header: _Header) -> None:
        self._ctx = ctx
        self._max = max(1, ctx.max_items_per_part)
        self._codes = {"UNH01": message.reference}
        if header.bgm is not None:
            self._codes["BGM01"] = header.bgm.value(1)
        as_of = first_of(header.dates, AS_OF_ORDER, self._codes, "DTM")
        if as_of is None:
            raise PayloadError(
                "INVRPT without a report date (DTM 366 or 137)",
                where=message.header.where,
                kind="validation",
            )
        self._as_of = as_of.when
        issued = header.dates.get("137")
        if issued is not None and not issued.has_time:
            self._codes["DTM+137"] = issued.date.isoformat()
        self._issued_at = issued.when if issued is not None and issued.has_time else None
        self._control = message.interchange.reference or None
        self.default = first_of(header.locations, LOC_ORDER, self._codes, "LOC") or first_of(
            header.parties, NAD_ORDER, self._codes, "NAD"
        )
        self._buffers: dict[str, list[InventoryItem]] = {}
        self._first: str | None = None

    def add(self, warehouse: str, item: InventoryItem) -> Iterator[InventorySnapshot]:
        buffer = self._buffers.setdefault(warehouse, [])
        if self._first is None:
            self._first = warehouse
        buffer.append(item)
        if warehouse == self._first and len(buffer) >= self._max:
            yield self._part(warehouse, buffer)
            self._buffers[warehouse] = []

    def finish(self) -> Iterator[InventorySnapshot]:
        if not self._buffers and self.default:
            yield self._part(self.default, [])  # a report with no lines: the site is empty
        for warehouse, buffer in self._buffers.items():
            for start in range(0, len(buffer), self._max):
                yield self._part(warehouse, buffer[start : start + self._max])

    def _part(self, warehouse: str, items: list[InventoryItem]) -> InventorySnapshot:
        return InventorySnapshot(
            warehouse_id=warehouse,
            as_of=self._as_of,
            supplier_id=self._ctx.supplier_id,
            issued_at=self._issued_at,
            control_number=self._control,
            items=items,
            codes=dict(self._codes),
        )


def decode_invrpt(message: Message, ctx: DecodeContext) -> Iterator[InventorySnapshot]:
    """The snapshots of one INVRPT message, one warehouse at a time, in parts."""
    header = _Header()
    snapshots: _Snapshots | None = None
    item: _Item | None = None
    for segment in message.body:
        if segment.tag == "LIN":
            if snapshots is None:
                snapshots = _Snapshots(message, ctx, header)
            if item is not None:
                yield from _emit(item, snapshots, ctx)
            item = _Item(segment)
        elif item is None:
            _read_header(segment, header)
        else:
            _read_item(segment, item)
    if snapshots is None:
        snapshots = _Snapshots(message, ctx, header)
    if item is not None:
        yield from _emit(item, snapshots, ctx)
    yield from snapshots.finish()


def _read_header(segment: Segment, header: _Header) -> None:
    tag = segment.tag
    if tag == "BGM":
        header.bgm = segment
    elif tag == "DTM":
        value = parse_dtm(segment)
        if value is not None:
            header.dates.setdefault(value.qualifier, value)
    elif tag == "LOC" and segment.value(2):
        header.locations.setdefault(segment.value(1).upper(), segment.value(2))
    elif tag == "NAD" and segment.value(2):
        header.parties.setdefault(segment.value(1).upper(), segment.value(2))


def _read_item(segment: Segment, item: _Item) -> None:
    tag = segment.tag
    if tag == "QTY":  # C186: qualifier, quantity, unit (what segment.value(1, n) reads)
        c186 = segment.elements[0] if segment.elements else []
        size = len(c186)
        amount = parse_exact(c186[1] if size > 1 else "", segment)
        sub = _Sub(c186[0].upper() if size else "", amount, c186[2] if size > 2 else "")
        if item.pending_loc is not None:
            sub.location, sub.loc_qualifier = item.pending_loc
            item.pending_loc = None
        item.subs.append(sub)
    elif tag == "LOC" and segment.value(2):
        _place(item, segment.value(2), segment.value(1))
    elif tag == "INV":
        item.pending_loc = None
    elif tag == "PIA":
        read_pia(segment, item.ids)


def _place(item: _Item, location: str, qualifier: str) -> None:
    last = item.subs[-1] if item.subs else None
    if last is not None and last.location is None:
        last.location, last.loc_qualifier = location, qualifier
    else:
        item.pending_loc = (location, qualifier)


def _emit(item: _Item, snapshots: _Snapshots, ctx: DecodeContext) -> Iterator[InventorySnapshot]:
    codes: dict[str, str] = {}
    sku = pick_sku(item.segment.value(3), item.ids, codes, item.segment.value(3, 2))
    if sku is None:
        raise PayloadError("LIN without an item id", where=item.segment.where, kind="validation")
    by_location: dict[str, list[_Sub]] = {}
    for sub in item.subs:
        warehouse = sub.location or snapshots.default
        if warehouse is None:
            raise PayloadError(
                "quantity without a location and no warehouse in the header",
                where=item.segment.where,
                kind="validation",
            )
        by_location.setdefault(warehouse, []).append(sub)
    emitted = False
    for warehouse, subs in by_location.items():
        position = _position(sku, subs, codes)
        if position is not None:
            emitted = True
            yield from snapshots.add(warehouse, position)
    if not emitted:
        ctx.warn(f"item {sku!r} has no on-hand quantity (at {item.segment.where})")


def _position(sku: str, subs: list[_Sub], line_codes: dict[str, str]) -> InventoryItem | None:
    on_hand = _on_hand(subs)
    if on_hand is None:
        return None
    held = [s.amount for s in subs if s.qualifier in HELD_BACK]
    codes = dict(line_codes)
    codes["QTY"] = " ".join([s.qualifier for s in subs])
    if on_hand.loc_qualifier:
        codes["LOC"] = on_hand.loc_qualifier
    return InventoryItem(
        sku=sku,
        on_hand=to_number(on_hand.amount),
        available=_minus(on_hand.amount, held) if held else None,
        uom=on_hand.unit or "EA",
        codes=codes,
    )


def _on_hand(subs: list[_Sub]) -> _Sub | None:
    """The first sub-quantity of the first ``ON_HAND`` qualifier present."""
    for qualifier in ON_HAND:
        for sub in subs:
            if sub.qualifier == qualifier:
                return sub
    return None


def _minus(amount: int | Decimal, held: list[int | Decimal]) -> int | float:
    ints = [h for h in held if isinstance(h, int)]
    if isinstance(amount, int) and len(ints) == len(held):
        return amount - sum(ints)
    # Exact whatever the exponents (the default 28 digits would round 1 - 1e-60).
    with localcontext(prec=1000):
        return to_number(amount - sum(held, Decimal(0)))
