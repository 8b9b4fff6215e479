"""X12 846 Inventory Inquiry/Advice → :class:`InventorySnapshot` (one per location).

Header
- ``as_of`` = the first header DTM (DTM02 date, DTM03 time, DTM04 time code; typically
  DTM*007 effective or DTM*405), else BIA04 date + BIA05 time.
- The location (``warehouse_id``) of the report: header N1 by entity code WH (warehouse),
  else SN (store), else ST (ship-to: in vendor-managed and consignment reports the stock
  sits at the buyer's ship-to), else no location (""). The id N104, else the name N102.

Items: one per LIN loop; ``sku`` from the LIN id pairs (``SKU_PRIORITY``, qualifier in
``codes["sku"]``). Quantities from QTY (element 673, quantity qualifier):
- ``on_hand``: 17 (quantity on hand), else 26 (total inventory);
- ``available``: 33 (quantity available for sale), else 34 (noncommitted inventory on shelf);
- an item stating only an available quantity gets it as ``on_hand`` too (stock that is
  available is at least on hand), with ``codes["on_hand"]`` naming the qualifier used.
- Every other qualifier (QH on hold, 87 received, QB, 29 projected ...) is kept verbatim in
  ``codes`` as ``qty_<qualifier>``, so nothing stated is lost. An item with no on-hand nor
  available quantity is skipped with a ``ctx.warn``.
- ``uom``: QTY03 (first component), else the UIT after the QTY, else "EA".

Several locations in one report: an N1 inside a LIN loop (WH, SN, ST, LC) moves the
following QTYs of that item to its location; an SDQ splits the preceding QTY over
locations (SDQ03/04, 05/06 ... pairs), replacing the QTY's total. Each location becomes its
own snapshot.

Streaming: snapshots are yielded in parts of at most ``ctx.max_items_per_part`` items, all
parts of one location consecutive (the sink joins consecutive parts). A single-location
report (the common case, and any size) streams with bounded memory; once a second
location appears, items are held until the transaction set ends, then the location
already streamed is finished first and the others follow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Final

from ..._exceptions import PayloadError
from ..._models import InventoryItem, InventorySnapshot, Quantity
from ..base import DecodeContext
from .envelope import Transaction
from .tokenizer import Segment
from .values import SKU_PRIORITY, element, parse_datetime, parse_number, product_id, text

__all__ = ["map_846"]

_HEADER_LOCATIONS: Final[tuple[str, ...]] = ("WH", "SN", "ST")
_ITEM_LOCATIONS: Final[frozenset[str]] = frozenset({"WH", "SN", "ST", "LC"})
_ON_HAND: Final[tuple[str, ...]] = ("17", "26")
_AVAILABLE: Final[tuple[str, ...]] = ("33", "34")
_MAPPED: Final[frozenset[str]] = frozenset(_ON_HAND + _AVAILABLE)


_SPLIT: Final = "\x00split"  # marks a QTY total that an SDQ replaced


def _item(
    sku: str, sku_qualifier: str, quantities: list[list[Any]], unit: str
) -> InventoryItem | None:
    """One item from its (location, qualifier, quantity, unit) rows, see the docstring."""
    stated: dict[str, tuple[Quantity, str]] = {}
    for _, qualifier, number, uom in quantities:
        stated.setdefault(qualifier, (number, uom))
    codes = {"sku": sku_qualifier} if sku_qualifier else {}
    on_hand_q = next((q for q in _ON_HAND if q in stated), None)
    available_q = next((q for q in _AVAILABLE if q in stated), None)
    if on_hand_q is None:
        if available_q is None:
            return None
        on_hand_q = available_q
    codes["on_hand"] = on_hand_q
    on_hand, uom = stated[on_hand_q]
    available: Quantity | None = None
    if available_q is not None:
        codes["available"] = available_q
        available = stated[available_q][0]
        uom = uom or stated[available_q][1]
    for qualifier, (number, _) in stated.items():
        if qualifier not in _MAPPED:
            codes[f"qty_{qualifier}"] = str(number)
    return InventoryItem(
        sku=sku, on_hand=on_hand, available=available, uom=uom or unit or "EA", codes=codes
    )


class _Report:
    """Collects one 846's items per location and hands out parts."""

    def __init__(self, txn: Transaction, ctx: DecodeContext) -> None:
        self.txn = txn
        self.ctx = ctx
        self.as_of: dt.datetime | None = None
        self.codes: dict[str, str] = {}
        self.location = ""
        self.location_code = ""
        self.buffers: dict[str, list[InventoryItem]] = {}
        self.streamed: str | None = None  # the location whose parts were already yielded

    # -- header ---------------------------------------------------------------------------

    def header(self, seg: Segment) -> None:
        tag = seg[0]
        if tag == "DTM" and self.codes.get("as_of", "BIA04") == "BIA04" and element(seg, 2):
            # a header DTM wins over BIA04, whichever comes first
            self.as_of = self._datetime(seg, 2, "DTM02")
            self.codes["as_of"] = "DTM" + element(seg, 1)
        elif tag == "BIA":
            self.codes.update(
                {k: v for k, v in (("BIA02", element(seg, 2)), ("BIA03", element(seg, 3))) if v}
            )
            if self.as_of is None and element(seg, 4):
                self.as_of = self._datetime(seg, 4, "BIA04")
                self.codes["as_of"] = "BIA04"
        elif tag == "N1":
            code = element(seg, 1)
            ranks = _HEADER_LOCATIONS
            current = ranks.index(self.location_code) if self.location_code in ranks else 99
            if code in ranks and ranks.index(code) < current:
                self.location = text(element(seg, 4) or element(seg, 2))
                self.location_code = code

    def _datetime(self, seg: Segment, i: int, name: str) -> dt.datetime:
        zone = element(seg, i + 2) if seg[0] == "DTM" else ""
        return parse_datetime(element(seg, i), element(seg, i + 1), zone, self.txn.where(seg), name)

    def require_as_of(self) -> dt.datetime:
        if self.as_of is None:
            raise PayloadError(
                "846 has no report date (header DTM or BIA04)",
                where=f"segment {self.txn.position} (ST)",
                kind="validation",
            )
        return self.as_of

    # -- items ----------------------------------------------------------------------------

    def emit(
        self, lin: Segment, lin_pos: int, quantities: list[list[Any]], unit: str
    ) -> Iterator[InventorySnapshot]:
        """The items of one LIN loop, one per location it states quantities for."""
        sku, qualifier = product_id(lin, 2, SKU_PRIORITY)
        if sku is None:
            self.ctx.warn(f"LIN without a product id skipped (at segment {lin_pos} (LIN))")
            return
        locations = {q[0] for q in quantities if q[0] is not _SPLIT}
        for location in locations if len(locations) < 2 else sorted(locations):
            item = _item(sku, qualifier, [q for q in quantities if q[0] == location], unit)
            if item is None:
                self.ctx.warn(
                    f"LIN {sku!r} states no on-hand or available quantity; skipped "
                    f"(at segment {lin_pos} (LIN))"
                )
                continue
            yield from self.add(location, item)
        if not locations:
            self.ctx.warn(f"LIN {sku!r} has no QTY; skipped (at segment {lin_pos} (LIN))")

    def add_simple(self, item: InventoryItem) -> InventorySnapshot | None:
        """``add`` at the report's own location, without a generator (the hot path)."""
        location = self.location
        buffer = self.buffers.get(location)
        if buffer is None:
            buffer = self.buffers[location] = []
        buffer.append(item)
        if len(buffer) < self.ctx.max_items_per_part or len(self.buffers) != 1:
            return None
        self.streamed = location
        self.buffers[location] = []
        return self._part(location, buffer)

    def add(self, location: str, item: InventoryItem) -> Iterator[InventorySnapshot]:
        buffer = self.buffers.get(location)
        if buffer is None:
            buffer = self.buffers[location] = []
        buffer.append(item)
        if len(buffer) >= self.ctx.max_items_per_part and len(self.buffers) == 1:
            self.streamed = location
            yield self._part(location, buffer)
            self.buffers[location] = []

    def finish(self) -> Iterator[InventorySnapshot]:
        if not self.buffers and self.streamed is None:
            yield self._part(self.location, [])
            return
        order = sorted(self.buffers, key=lambda loc: loc != self.streamed)
        size = self.ctx.max_items_per_part
        for location in order:
            items = self.buffers[location]
            if not items and location != self.streamed:
                continue
            for start in range(0, max(len(items), 1), size):
                if items[start : start + size] or (start == 0 and location != self.streamed):
                    yield self._part(location, items[start : start + size])

    def _part(self, location: str, items: list[InventoryItem]) -> InventorySnapshot:
        codes = dict(self.codes)
        code = self.location_code if location == self.location else "item"
        if code:
            codes["location"] = code
        return InventorySnapshot(
            warehouse_id=location,
            as_of=self.require_as_of(),
            supplier_id=self.ctx.supplier_id,
            items=items,
            codes=codes,
        )


def map_846(txn: Transaction, ctx: DecodeContext) -> Iterator[InventorySnapshot]:
    """The snapshots of one 846 transaction set, in parts."""
    report = _Report(txn, ctx)
    segments = txn.segments()
    for seg in segments:
        if seg[0] == "LIN":
            report.require_as_of()
            yield from _items(seg, segments, report)
            break
        report.header(seg)
    report.require_as_of()
    yield from report.finish()


def _items(
    lin: Segment, segments: Iterator[Segment], report: _Report
) -> Iterator[InventorySnapshot]:
    """The LIN loops, from the first LIN on. Kept in one loop: it is the hot path."""
    txn, home = report.txn, report.location
    component = txn.component
    lin_pos, location, unit, simple = txn.pos, home, "", True
    quantities: list[list[Any]] = []  # [location, qualifier, quantity, unit]
    add = report.add_simple
    for seg in segments:
        tag = seg[0]
        if tag == "QTY":
            value = seg[2] if len(seg) > 2 else ""
            number = int(value) if value.isdigit() else _number(value, txn, seg)
            uom = seg[3].split(component, 1)[0].strip() if len(seg) > 3 else ""
            quantities.append([location, seg[1].strip(), number, uom])
        elif tag == "LIN":
            item = _simple_item(lin, quantities, unit) if simple else None
            if item is not None:
                part = add(item)
                if part is not None:
                    yield part
            else:
                yield from report.emit(lin, lin_pos, quantities, unit)
            lin, lin_pos, location, unit, quantities, simple = seg, txn.pos, home, "", [], True
        elif tag == "UIT":
            uom = element(seg, 1).split(component, 1)[0]
            if quantities and not quantities[-1][3]:
                quantities[-1][3] = uom
            elif not quantities:
                unit = uom
        elif tag == "SDQ":
            _sdq(seg, quantities, txn)
            simple = False
        elif tag == "N1" and element(seg, 1) in _ITEM_LOCATIONS:
            location = text(element(seg, 4) or element(seg, 2))
            simple = False
    yield from report.emit(lin, lin_pos, quantities, unit)


def _simple_item(lin: Segment, quantities: list[list[Any]], unit: str) -> InventoryItem | None:
    """The common item, fast: one product id, QTY 17 and maybe 33, at the report location.

    Anything else returns None and takes the general path (``_Report.emit``), which gives
    the same result for these items; this one only skips its generality.
    """
    if len(lin) != 4 or not quantities:
        return None
    on_hand = available = None
    uom = ""
    for row in quantities:
        qualifier = row[1]
        if qualifier == "17" and on_hand is None:
            on_hand, uom = row[2], row[3]
        elif qualifier == "33" and available is None:
            available = row[2]
            uom = uom or row[3]
        else:
            return None
    sku, qualifier = lin[3].strip(), lin[2].strip()
    if on_hand is None or not sku or not qualifier:
        return None
    if not sku.isascii():
        sku = text(sku)
    if available is None:
        codes = {"sku": qualifier, "on_hand": "17"}
    else:
        codes = {"sku": qualifier, "on_hand": "17", "available": "33"}
    return InventoryItem(
        sku=sku, on_hand=on_hand, available=available, uom=uom or unit or "EA", codes=codes
    )


def _number(value: str, txn: Transaction, seg: Segment) -> Quantity:
    return parse_number(value.strip(), txn.where(seg), "QTY02")


def _sdq(seg: Segment, quantities: list[list[Any]], txn: Transaction) -> None:
    """Splits the preceding QTY over the SDQ's locations (its total is replaced)."""
    if quantities and quantities[-1][0] is not _SPLIT:
        qualifier, uom = quantities[-1][1], quantities[-1][3]
        quantities[-1][0] = _SPLIT
    elif quantities:
        qualifier, uom = quantities[-1][1], quantities[-1][3]
    else:
        qualifier, uom = "17", ""
    uom = element(seg, 1) or uom
    at = txn.where(seg)
    for i in range(3, len(seg) - 1, 2):
        location, value = text(seg[i].strip()), seg[i + 1].strip()
        if location and value:
            quantities.append([location, qualifier, parse_number(value, at, f"SDQ{i + 1:02}"), uom])
    quantities.append([_SPLIT, qualifier, 0, uom])  # later SDQs split the same QTY
