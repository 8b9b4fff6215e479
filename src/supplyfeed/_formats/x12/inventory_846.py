"""X12 846 Inventory Inquiry/Advice → :class:`InventorySnapshot` (one per location).

Header
- ``as_of`` = the first header DTM (DTM02 date, DTM03 time, DTM04 time code; typically
  DTM*007 effective or DTM*405), else BIA04 date + BIA05 time.
- The location (``warehouse_id``) of the report: header N1 by entity code WH (warehouse),
  else SN (store), else ST (ship-to: in vendor-managed and consignment reports the stock
  sits at the buyer's ship-to), else no location (""). The id N104, else the name N102.
- The version (SPEC §6): ``issued_at`` = BIA04 date + BIA05 time (the report's own
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
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from itertools import chain, repeat
from typing import Any, Final

import msgspec

from ..._exceptions import PayloadError
from ..._models import InventoryItem, InventorySnapshot, Quantity
from ..base import DecodeContext
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

    The common item (``LIN**SK*id`` then ``QTY*17`` and maybe ``QTY*33``, then the next
    LIN) is recognised by looking ahead in the chunk and built straight from its
    segments, with no per-item list of quantity rows, no call and no generator: that is
    where the time went (about 5 µs an item). Whole runs of common items are read in
    bulk: from an unsplit chunk's text (``feed_chunk``), else from its segments. Every
    other shape, and an item cut by a chunk's end, goes through the general state machine
    below, which gives the same result for the common shape too (the round-trip property
    tests pin that).
    """

    __slots__ = (
        "buffer",
        "home",
        "lin",
        "lin_pos",
        "location",
        "quantities",
        "report",
        "simple",
        "unit",
        "uoms",
    )

    def __init__(self, report: _Report) -> None:
        self.report = report
        self.home = report.location
        self.lin: Segment | None = None  # the LIN loop open in the general path
        self.lin_pos = 0
        self.location = self.home
        self.unit = ""
        self.simple = True
        self.quantities: list[list[Any]] = []  # [location, qualifier, quantity, unit]
        # the report location's buffer, once an item was added to it (creating it earlier
        # would change what ``finish`` yields for a report without items there)
        self.buffer: list[InventoryItem] | None = None
        self.uoms: dict[str, str] = {}  # raw QTY03 -> unit: a few distinct values repeat

    def feed_chunk(self, chunk: Chunk) -> Iterator[InventorySnapshot]:
        """``feed`` over a whole chunk; an unsplit one has its common items read from the
        text, and only the segments around them are split."""
        if isinstance(chunk, TextChunk) and not chunk.is_split:
            run = _text_items(chunk, self.report.txn.component)
            if run is not None:
                yield from self._feed_text(chunk, *run)
                return
        yield from self.feed(segments_of(chunk), 0)

    def _feed_text(
        self, chunk: TextChunk, first: int, items: list[InventoryItem], last: int
    ) -> Iterator[InventorySnapshot]:
        """The chunk's segments before text offset ``first`` and from ``last`` on through
        ``feed``, with ``items`` (read from the text between) in between."""
        txn = self.report.txn
        base = txn.chunk_pos
        head = chunk.split_range(0, first)
        if head:
            txn.focus(head, base)  # errors name these segments at their positions
            yield from self.feed(head, 0)
        if self.lin is not None:
            yield from self._close_loop()
        yield from self.report.extend(self.home, items)
        self.buffer = self.report.buffers[self.home]
        tail = chunk.split_range(last, len(chunk.text))
        txn.focus(tail, base + len(head) + 3 * len(items))
        yield from self.feed(tail, 0)

    def feed(self, chunk: list[Segment], start: int) -> Iterator[InventorySnapshot]:
        txn = self.report.txn
        component = txn.component
        limit = self.report.ctx.max_items_per_part
        uoms = self.uoms
        buffer = self.buffer
        n = len(chunk)
        i = start
        bulk_tried = False  # the whole-chunk path is tried once, at the chunk's first LIN
        while i < n:
            seg = chunk[i]
            tag = seg[0]
            if tag == "LIN":
                if self.lin is not None:
                    yield from self._close_loop()
                    buffer = self.buffer
                if not bulk_tried:
                    bulk_tried = True
                    run = _bulk_items(chunk, i, component)
                    if run is not None:
                        items, i = run
                        yield from self.report.extend(self.home, items)
                        buffer = self.buffer = self.report.buffers[self.home]
                        continue
                # The fast path; any condition not met leaves the item to the general path.
                if len(seg) == 4 and i + 2 < n:
                    q = chunk[i + 1]
                    nxt = chunk[i + 2]
                    if q[0] == "QTY" and len(q) == 4 and q[1] == "17" and q[2].isdigit():
                        on_hand = int(q[2])
                        uom = uoms.get(q[3])
                        if uom is None:
                            uom = self._uom(q[3], component)
                        available = None
                        step = 2
                        if nxt[0] == "QTY" and i + 3 < n:
                            if len(nxt) == 4 and nxt[1] == "33" and nxt[2].isdigit():
                                available = int(nxt[2])
                                if not uom:
                                    uom = uoms.get(nxt[3])
                                    if uom is None:
                                        uom = self._uom(nxt[3], component)
                                step = 3
                                nxt = chunk[i + 3]
                            else:
                                nxt = q  # not the common shape: no match below
                        sku, qualifier = seg[3].strip(), seg[2].strip()
                        if nxt[0] == "LIN" and sku and qualifier:
                            if not sku.isascii():
                                sku = text(sku)
                            if available is None:
                                codes = {"sku": qualifier, "on_hand": "17"}
                            else:
                                codes = {"sku": qualifier, "on_hand": "17", "available": "33"}
                            item = InventoryItem(
                                sku=sku,
                                on_hand=on_hand,
                                available=available,
                                uom=uom or "EA",
                                codes=codes,
                            )
                            if buffer is None:
                                buffer = self.buffer = self.report.buffer(self.home)
                            buffer.append(item)
                            if len(buffer) >= limit:
                                part = self.report.flush(self.home)
                                buffer = self.buffer = self.report.buffers[self.home]
                                if part is not None:
                                    yield part
                            i += step
                            continue
                self.lin, self.lin_pos = seg, txn.chunk_pos + i
                self.location, self.unit, self.quantities, self.simple = self.home, "", [], True
            elif tag == "QTY":
                value = seg[2] if len(seg) > 2 else ""
                number = int(value) if value.isdigit() else _number(value, txn, seg)
                uom = seg[3].split(component, 1)[0].strip() if len(seg) > 3 else ""
                self.quantities.append([self.location, seg[1].strip(), number, uom])
            elif tag == "UIT":
                uom = element(seg, 1).split(component, 1)[0]
                quantities = self.quantities
                if quantities and not quantities[-1][3]:
                    quantities[-1][3] = uom
                elif not quantities:
                    self.unit = uom
            elif tag == "SDQ":
                _sdq(seg, self.quantities, txn)
                self.simple = False
            elif tag == "N1" and element(seg, 1) in _ITEM_LOCATIONS:
                self.location = text(element(seg, 4) or element(seg, 2))
                self.simple = False
            i += 1

    def _uom(self, raw: str, component: str) -> str:
        uom = raw.split(component, 1)[0].strip()
        if len(self.uoms) < 64:  # bounded: a hostile payload may send a new unit per item
            self.uoms[raw] = uom
        return uom

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
        self.buffer = self.report.buffers.get(self.home)

    def close(self) -> Iterator[InventorySnapshot]:
        if self.lin is not None:
            yield from self._close_loop()


def _bulk_items(
    chunk: list[Segment], i: int, component: str
) -> tuple[list[InventoryItem], int] | None:
    """The items of a chunk that is, from ``i`` on, nothing but common items.

    A large 846 is mostly ``LIN**SK*id`` / ``QTY*17*n*u`` / ``QTY*33*n*u`` repeated. When
    the chunk has exactly that period from ``i`` to a final LIN (which opens the next
    item, so every item here is complete), its segments are flattened into one list of
    elements and read by :func:`_flat_items`. Returns the items and the index of the final
    LIN, or None to leave the chunk to the per-item paths (which give the same items;
    this only drops their generality).
    """
    count = (len(chunk) - 1 - i) // 3
    end = i + 3 * count
    if count < 8 or chunk[end][0] != "LIN":
        return None
    segments = chunk[i:end]
    if list(map(len, segments)).count(4) != 3 * count:
        return None  # every segment has exactly 4 elements: the columns line up
    items = _flat_items(list(chain.from_iterable(segments)), count, component)
    return None if items is None else (items, end)


def _text_items(chunk: TextChunk, component: str) -> tuple[int, list[InventoryItem], int] | None:
    """:func:`_bulk_items` over an unsplit chunk's text, without making its segments.

    The run is from the chunk's first LIN to its last (which opens an item that may go on
    in the next chunk). That it is whole common items, 4 elements a segment, is checked
    on its *skeleton*, the run with every character but the two separators deleted (one
    C-level ``bytes.translate``): it must be ``***~***~***~`` once an item. Its elements
    are then one ``split`` away. Returns the text offsets of the first and the last LIN
    with the items between, or None.
    """
    body, terminator, element = chunk.text, chunk.terminator, chunk.element
    if len(terminator) != 1:
        return None  # the skeleton test needs one-character separators
    lin = "LIN" + element
    at_start = body.startswith(lin)
    first = 0 if at_start else body.find(terminator + lin) + 1
    last = body.rfind(terminator + lin) + 1
    if not (at_start or first) or last <= first:
        return None
    run = body[first:last]  # whole segments, the last one's terminator included
    skeleton = run.encode("latin-1").translate(None, _deletions(element + terminator))
    count = len(skeleton) // 12
    if count < 8 or skeleton != ((element * 3 + terminator) * 3 * count).encode("latin-1"):
        return None
    items = _flat_items(run[:-1].replace(terminator, element).split(element), count, component)
    return None if items is None else (first, items, last)


@cache
def _deletions(keep: str) -> bytes:
    """Every latin-1 byte but those of ``keep``: ``bytes.translate`` deletes them."""
    return bytes(b for b in range(256) if chr(b) not in keep)


def _flat_items(flat: list[str], count: int, component: str) -> list[InventoryItem] | None:
    """The items of ``count`` common items given as their elements, 12 an item, or None.

    The checks of the per-item fast path are made on whole columns of elements with
    C-level slices, counts and joins, and the items are built in one comprehension: no
    per-item interpreted branching.
    """
    if (
        flat[0::12].count("LIN") != count
        or flat[4::12].count("QTY") != count
        or flat[5::12].count("17") != count
        or flat[8::12].count("QTY") != count
        or flat[9::12].count("33") != count
    ):
        return None
    on_hand, available = _digits(flat[6::12]), _digits(flat[10::12])
    units = _column(flat[7::12], lambda raw: raw.split(component, 1)[0].strip())
    qualifiers = _column(flat[2::12], str.strip)
    skus = list(map(str.strip, flat[3::12]))
    if on_hand is None or available is None or units is None or qualifiers is None:
        return None
    if "" in skus:
        return None
    if not "".join(skus).isascii():
        skus = list(map(text, skus))
    if isinstance(qualifiers, str):  # the usual case: one qualifier, one codes to copy
        template = {"sku": qualifiers, "on_hand": "17", "available": "33"}
        codes: Iterable[dict[str, str]] = map(dict.copy, repeat(template, count))
    else:
        codes = ({"sku": q, "on_hand": "17", "available": "33"} for q in qualifiers)
    uoms = repeat(units, count) if isinstance(units, str) else units
    return [
        InventoryItem(sku=sku, on_hand=hand, available=avail, uom=uom, codes=code)
        for sku, hand, avail, uom, code in zip(skus, on_hand, available, uoms, codes, strict=True)
    ]


def _digits(values: list[str]) -> list[int] | None:
    """The integers of a column of quantities when all are plain digits, else None.

    ``isdecimal``, not ``isdigit``: "²" is a digit that ``int`` refuses, and the per-item
    path must be the one to raise on it, after the items before it.
    """
    if "" in values or not "".join(values).isdecimal():
        return None
    try:  # msgspec reads a JSON array of integers in C, 3x faster than int() per value
        return _INTS.decode(f"[{','.join(values)}]")
    except msgspec.DecodeError:  # leading zeros are no JSON: the Python way then
        return list(map(int, values))


_INTS: Final = msgspec.json.Decoder(list[int])


def _column(values: list[str], convert: Callable[[str], str]) -> str | list[str] | None:
    """``values`` converted, each distinct value once; None when one comes out empty.

    A column usually holds a single distinct value (one unit, one qualifier): that value
    alone is returned then (found by a C-level ``count``, cheaper than hashing them all).
    """
    if values.count(values[0]) == len(values):
        return convert(values[0]) or None
    distinct = {raw: convert(raw) for raw in set(values)}
    if not all(distinct.values()):
        return None
    return list(map(distinct.__getitem__, values))


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
