"""X12 846 Inventory Inquiry/Advice → :class:`InventorySnapshot` (one per location).

Header
- ``as_of`` = the first header DTM (DTM02 date, DTM03 time, DTM04 time code; typically
  DTM*007 effective or DTM*405), else BIA04 date + BIA05 time.
- The location (``warehouse_id``) of the report: header N1 by entity code WH (warehouse),
  else SN (store), else ST (ship-to: in vendor-managed and consignment reports the stock
  sits at the buyer's ship-to), else no location (""). The id N104, else the name N102.
- The version (docs/contract.md §6): ``issued_at`` = BIA04 date + BIA05 time (the report's own
  creation time); ``control_number`` = ISA13 then ST02, as ``values.control_number``
  writes them (18 digits, so a correction in a later interchange orders after the
  original whatever its ST02). Every part of one report carries the same version.

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
from dataclasses import dataclass
from typing import Final

from ..._exceptions import PayloadError
from ..._models import InventoryItem, InventorySnapshot, Quantity
from ..base import DecodeContext
from ._fast846 import AVAILABLE, ON_HAND, TextRun, common_codes, common_items, text_reader
from .envelope import Transaction
from .tokenizer import Chunk, Segment, TextChunk, segments_of
from .values import (
    SKU_PRIORITY,
    control_number,
    element,
    parse_datetime,
    parse_number,
    product_id,
    text,
)

__all__ = ["map_846"]

_HEADER_LOCATIONS: Final[tuple[str, ...]] = ("WH", "SN", "ST")
_ITEM_LOCATIONS: Final[frozenset[str]] = frozenset({"WH", "SN", "ST", "LC"})
_ON_HAND: Final[tuple[str, ...]] = ("17", "26")
_AVAILABLE: Final[tuple[str, ...]] = ("33", "34")
_MAPPED: Final[frozenset[str]] = frozenset(_ON_HAND + _AVAILABLE)


def _item(
    sku: str, sku_qualifier: str, quantities: list[QtyRow], unit: str
) -> InventoryItem | None:
    """One item from its quantity rows at one location, see the docstring."""
    stated: dict[str, tuple[Quantity, str]] = {}
    for row in quantities:
        stated.setdefault(row.qualifier, (row.quantity, row.unit))
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
        self.issued_at: dt.datetime | None = None
        self.control_number = control_number(element(txn.interchange, 13), txn.control)
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
            if element(seg, 4):
                self.issued_at = self._datetime(seg, 4, "BIA04")
            if self.as_of is None and self.issued_at is not None:
                self.as_of = self.issued_at
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
        self, lin: Segment, lin_pos: int, quantities: list[QtyRow], unit: str
    ) -> Iterator[InventorySnapshot]:
        """The items of one LIN loop, one per location it states quantities for."""
        sku, qualifier = product_id(lin, 2, SKU_PRIORITY)
        if sku is None:
            self.ctx.warn(f"LIN without a product id skipped (at segment {lin_pos} (LIN))")
            return
        stated = [q for q in quantities if not q.split]
        locations = {q.location for q in stated}
        for location in locations if len(locations) < 2 else sorted(locations):
            item = _item(sku, qualifier, [q for q in stated if q.location == location], unit)
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
        """``add`` at the report's own location, without a generator."""
        self.buffer(self.location).append(item)
        return self.flush(self.location)

    def buffer(self, location: str) -> list[InventoryItem]:
        """The items held for ``location`` (created, in order, on the first item)."""
        buffer = self.buffers.get(location)
        if buffer is None:
            buffer = self.buffers[location] = []
        return buffer

    def extend(self, location: str, items: list[InventoryItem]) -> list[InventorySnapshot]:
        """``add_simple`` for many items: the same parts, cut at the same items."""
        parts: list[InventorySnapshot] = []
        buffer = self.buffer(location)
        start = 0
        while start < len(items):
            if len(self.buffers) != 1:  # several locations: nothing streams until the end
                buffer.extend(items[start:])
                break
            take = max(self.ctx.max_items_per_part - len(buffer), 1)
            buffer.extend(items[start : start + take])
            start += take
            part = self.flush(location)
            if part is not None:
                parts.append(part)
                buffer = self.buffers[location]
        return parts

    def flush(self, location: str) -> InventorySnapshot | None:
        """A part of ``location`` when its buffer is full and it can stream (see ``add``)."""
        buffer = self.buffers[location]
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
            issued_at=self.issued_at,
            control_number=self.control_number,
            items=items,
            codes=codes,
        )


def map_846(txn: Transaction, ctx: DecodeContext) -> Iterator[InventorySnapshot]:
    """The snapshots of one 846 transaction set, in parts."""
    report = _Report(txn, ctx)
    chunks = txn.chunks()
    for chunk in chunks:
        segments = segments_of(chunk)
        for i, seg in enumerate(segments):
            if seg[0] == "LIN":
                report.require_as_of()
                loops = _Loops(report)
                yield from loops.feed(segments, i)
                for rest in chunks:
                    yield from loops.feed_chunk(rest)
                yield from loops.close()
                yield from report.finish()
                return
            report.header(seg)
    report.require_as_of()
    yield from report.finish()


class _Loops:
    """The LIN loops, from the first LIN on: the hot path of a large 846.

    At each LIN the fast readers of :mod:`._fast846` try the common item (and whole runs
    of them, from an unsplit chunk's text in ``feed_chunk`` or from its segments); what
    they leave goes through the general state machine here, which gives the same result
    for the common shape too (the round-trip property tests pin that).
    """

    __slots__ = (
        "common",
        "home",
        "lin",
        "lin_pos",
        "location",
        "quantities",
        "report",
        "simple",
        "text_run",
        "unit",
    )

    def __init__(self, report: _Report) -> None:
        self.report = report
        self.home = report.location
        self.lin: Segment | None = None  # the LIN loop open in the general path
        self.lin_pos = 0
        self.location = self.home
        self.unit = ""
        self.simple = True
        self.quantities: list[QtyRow] = []
        paths, component = report.ctx.fast_paths, report.txn.component
        self.common = common_items(paths, component)
        self.text_run = text_reader(paths, component)

    def feed_chunk(self, chunk: Chunk) -> Iterator[InventorySnapshot]:
        """``feed`` over a whole chunk; an unsplit one has its common items read from the
        text, and only the segments around them are split."""
        if isinstance(chunk, TextChunk) and not chunk.is_split:
            run = self.text_run(chunk)
            if run is not None:
                yield from self._feed_text(chunk, run)
                return
        yield from self.feed(segments_of(chunk), 0)

    def _feed_text(self, chunk: TextChunk, run: TextRun) -> Iterator[InventorySnapshot]:
        """The chunk's segments before the run and after it through ``feed``, with the
        run's items (read from the text) in between."""
        txn = self.report.txn
        base = txn.chunk_pos
        head = chunk.split_range(0, run.first)
        if head:
            txn.focus(head, base)  # errors name these segments at their positions
            yield from self.feed(head, 0)
        if self.lin is not None:
            yield from self._close_loop()
        yield from self.report.extend(self.home, run.items)
        tail = chunk.split_range(run.last, len(chunk.text))
        txn.focus(tail, base + len(head) + 3 * len(run.items))
        yield from self.feed(tail, 0)

    def feed(self, chunk: list[Segment], start: int) -> Iterator[InventorySnapshot]:
        """The segments of ``chunk`` from ``start`` on."""
        n, i = len(chunk), start
        while i < n:
            seg = chunk[i]
            if seg[0] != "LIN":
                self._in_loop(seg)
                i += 1
                continue
            if self.lin is not None:
                yield from self._close_loop()
            run = self.common(chunk, i)
            if run is not None:
                yield from self.report.extend(self.home, run.items)
                i = run.end
                continue
            self.lin, self.lin_pos = seg, self.report.txn.chunk_pos + i
            self.location, self.unit, self.quantities, self.simple = self.home, "", [], True
            i += 1

    def _in_loop(self, seg: Segment) -> None:
        """A segment of the LIN loop open in the general path (before the first LIN, the
        report header has already been read)."""
        tag = seg[0]
        if tag == "QTY":
            self.quantities.append(_qty_row(seg, self.location, self.report.txn))
        elif tag == "UIT":
            self._uit(seg)
        elif tag == "SDQ":
            _sdq(seg, self.quantities, self.report.txn)
            self.simple = False
        elif tag == "N1" and element(seg, 1) in _ITEM_LOCATIONS:
            self.location = text(element(seg, 4) or element(seg, 2))
            self.simple = False

    def _uit(self, seg: Segment) -> None:
        """UIT: the unit of the QTY before it when that had none, else of the whole item."""
        uom = element(seg, 1).split(self.report.txn.component, 1)[0]
        quantities = self.quantities
        if quantities and not quantities[-1].unit:
            quantities[-1].unit = uom
        elif not quantities:
            self.unit = uom

    def _close_loop(self) -> Iterator[InventorySnapshot]:
        """Ends the LIN loop open in the general path."""
        lin, quantities, unit = self.lin, self.quantities, self.unit
        assert lin is not None
        self.lin = None
        item = _simple_item(lin, quantities, unit) if self.simple else None
        if item is not None:
            part = self.report.add_simple(item)
            if part is not None:
                yield part
        else:
            yield from self.report.emit(lin, self.lin_pos, quantities, unit)

    def close(self) -> Iterator[InventorySnapshot]:
        if self.lin is not None:
            yield from self._close_loop()


@dataclass(slots=True)
class QtyRow:
    """One quantity of a LIN loop in the general path: a QTY, or a location's share of
    it from an SDQ. ``split`` marks a QTY whose total an SDQ replaced by its shares."""

    location: str
    qualifier: str
    quantity: Quantity
    unit: str
    split: bool = False


def _qty_row(seg: Segment, location: str, txn: Transaction) -> QtyRow:
    value = seg[2] if len(seg) > 2 else ""
    number = int(value) if value.isdigit() else _number(value, txn, seg)
    uom = seg[3].split(txn.component, 1)[0].strip() if len(seg) > 3 else ""
    return QtyRow(location, seg[1].strip(), number, uom)


def _simple_item(lin: Segment, quantities: list[QtyRow], unit: str) -> InventoryItem | None:
    """The common item, fast: one product id, QTY 17 and maybe 33, at the report location.

    Anything else returns None and takes the general path (``_Report.emit``), which gives
    the same result for these items; this one only skips its generality.
    """
    if len(lin) != 4 or not quantities:
        return None
    on_hand = available = None
    uom = ""
    for row in quantities:
        if row.qualifier == ON_HAND and on_hand is None:
            on_hand, uom = row.quantity, row.unit
        elif row.qualifier == AVAILABLE and available is None:
            available = row.quantity
            uom = uom or row.unit
        else:
            return None
    sku, qualifier = lin[3].strip(), lin[2].strip()
    if on_hand is None or not sku or not qualifier:
        return None
    if not sku.isascii():
        sku = text(sku)
    codes = common_codes(qualifier, available is not None)
    return InventoryItem(
        sku=sku, on_hand=on_hand, available=available, uom=uom or unit or "EA", codes=codes
    )


def _number(value: str, txn: Transaction, seg: Segment) -> Quantity:
    return parse_number(value.strip(), txn.where(seg), "QTY02")


def _sdq(seg: Segment, quantities: list[QtyRow], txn: Transaction) -> None:
    """Splits the preceding QTY over the SDQ's locations (its total is replaced)."""
    if quantities:
        last = quantities[-1]
        qualifier, uom = last.qualifier, last.unit
        last.split = True  # the QTY's total, or already the marker of an earlier SDQ
    else:
        qualifier, uom = ON_HAND, ""
    uom = element(seg, 1) or uom
    at = txn.where(seg)
    for i in range(3, len(seg) - 1, 2):
        location, value = text(seg[i].strip()), seg[i + 1].strip()
        if location and value:
            number = parse_number(value, at, f"SDQ{i + 1:02}")
            quantities.append(QtyRow(location, qualifier, number, uom))
    quantities.append(QtyRow("", qualifier, 0, uom, split=True))  # later SDQs split it too
