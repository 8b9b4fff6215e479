"""The X12 846 fast paths: common items read without the general state machine.

A large 846 is mostly the *common item*: ``LIN**SK*id``, ``QTY*17*n*unit`` and maybe
``QTY*33*n*unit``, then the next LIN, at the report's own location. Three readers take it
faster than :class:`~supplyfeed._formats.x12.inventory_846._Loops` item by item:

- :func:`text_items`: a run of common items read from an unsplit chunk's text, without
  making its segments (a skeleton check, then one ``split``);
- :func:`bulk_items`: a run read from a chunk's segments, checked column by column;
- :meth:`CommonItems.one`: one item, by looking two or three segments ahead.

Each gives the items the general path gives, or None to leave them to it (the round-trip
property tests in tests/formats/test_x12_text_chunks.py pin that, through
``DecodeContext.fast_paths``). Which readers run is chosen once per transaction set, by
:func:`common_items` and :func:`text_reader`, as structlog's ``TimeStamper`` chooses its
stamper at construction: the hot loop then makes one call, with no test of the setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from itertools import chain, repeat
from typing import Final, TypeAlias

import msgspec

from ..._models import InventoryItem
from ..base import FastPaths
from .tokenizer import Segment, TextChunk
from .values import text

__all__ = [
    "CommonItems",
    "ItemRun",
    "TextRun",
    "common_codes",
    "common_items",
    "text_reader",
]

ON_HAND: Final = "17"
AVAILABLE: Final = "33"
_UOM_CACHE: Final = 64  # bounded: a hostile payload may send a new unit per item
_INTS: Final = msgspec.json.Decoder(list[int])


def common_codes(qualifier: str, available: bool) -> dict[str, str]:
    """The ``codes`` of a common item: its id's qualifier, and the QTY qualifiers read."""
    if available:
        return {"sku": qualifier, "on_hand": ON_HAND, "available": AVAILABLE}
    return {"sku": qualifier, "on_hand": ON_HAND}


@dataclass(frozen=True, slots=True)
class ItemRun:
    """Common items read at once, and the index of the segment after them (a LIN)."""

    items: list[InventoryItem]
    end: int


@dataclass(frozen=True, slots=True)
class TextRun:
    """Common items read from a chunk's text between offsets ``first`` and ``last`` (where
    the first LIN of the run and the LIN after it start)."""

    first: int
    items: list[InventoryItem]
    last: int


Reader: TypeAlias = Callable[[list[Segment], int], "ItemRun | None"]


class CommonItems:
    """Reads the common items at a LIN of a chunk's segments (see the module docstring).

    :meth:`run` tries a whole run once a chunk (at the first LIN it is asked about), then
    one item at a time; :meth:`one` only ever one item.
    """

    __slots__ = ("_component", "_tried", "_uoms")

    def __init__(self, component: str) -> None:
        self._component = component
        self._uoms: dict[str, str] = {}  # raw QTY03 -> unit: a few distinct values repeat
        self._tried: list[Segment] | None = None  # the chunk whose run was tried

    def run(self, chunk: list[Segment], i: int) -> ItemRun | None:
        if chunk is not self._tried:
            self._tried = chunk
            found = bulk_items(chunk, i, self._component)
            if found is not None:
                return found
        return self.one(chunk, i)

    def one(self, chunk: list[Segment], i: int) -> ItemRun | None:
        """The common item opened by the LIN at ``i``, when it is one and ends in ``chunk``."""
        lin = chunk[i]
        if len(lin) != 4 or i + 2 >= len(chunk):
            return None
        on_hand = chunk[i + 1]
        if not _plain_quantity(on_hand, ON_HAND):
            return None
        uom = self._unit(on_hand[3])
        available: int | None = None
        end = i + 2
        if chunk[end][0] == "QTY":
            if end + 1 >= len(chunk) or not _plain_quantity(chunk[end], AVAILABLE):
                return None
            available = int(chunk[end][2])
            uom = uom or self._unit(chunk[end][3])
            end += 1
        sku, qualifier = lin[3].strip(), lin[2].strip()
        if chunk[end][0] != "LIN" or not sku or not qualifier:
            return None
        if not sku.isascii():
            sku = text(sku)
        item = InventoryItem(
            sku=sku,
            on_hand=int(on_hand[2]),
            available=available,
            uom=uom or "EA",
            codes=common_codes(qualifier, available is not None),
        )
        return ItemRun([item], end)

    def _unit(self, raw: str) -> str:
        uom = self._uoms.get(raw)
        if uom is None:
            uom = raw.split(self._component, 1)[0].strip()
            if len(self._uoms) < _UOM_CACHE:
                self._uoms[raw] = uom
        return uom


def _plain_quantity(seg: Segment, qualifier: str) -> bool:
    """``QTY*<qualifier>*<digits>*<unit>``: what the one-item reader takes."""
    return seg[0] == "QTY" and len(seg) == 4 and seg[1] == qualifier and seg[2].isdigit()


def _no_items(chunk: list[Segment], i: int) -> None:
    """The reader when the fast paths are off: every item takes the general path."""


def common_items(paths: FastPaths, component: str) -> Reader:
    """The reader of common items at a LIN for ``paths``, chosen once."""
    if paths == "none":
        return _no_items
    reader = CommonItems(component)
    return reader.one if paths == "items" else reader.run


def text_reader(paths: FastPaths, component: str) -> Callable[[TextChunk], TextRun | None]:
    """The reader of a run of common items from an unsplit chunk's text, chosen once."""
    if paths != "all":
        return lambda chunk: None
    return lambda chunk: text_items(chunk, component)


def bulk_items(chunk: list[Segment], i: int, component: str) -> ItemRun | None:
    """The items of a chunk that is, from ``i`` on, nothing but common items.

    When the chunk has exactly the period LIN/QTY/QTY from ``i`` to a final LIN (which
    opens the next item, so every item here is complete), its segments are flattened into
    one list of elements and read by :func:`_flat_items`. Returns the items and the index
    of the final LIN, or None to leave the chunk to the per-item paths (which give the
    same items; this only drops their generality).
    """
    count = (len(chunk) - 1 - i) // 3
    end = i + 3 * count
    if count < 8 or chunk[end][0] != "LIN":
        return None
    segments = chunk[i:end]
    if list(map(len, segments)).count(4) != 3 * count:
        return None  # every segment has exactly 4 elements: the columns line up
    items = _flat_items(list(chain.from_iterable(segments)), count, component)
    return None if items is None else ItemRun(items, end)


def text_items(chunk: TextChunk, component: str) -> TextRun | None:
    """:func:`bulk_items` over an unsplit chunk's text, without making its segments.

    The run is from the chunk's first LIN to its last (which opens an item that may go on
    in the next chunk). That it is whole common items, 4 elements a segment, is checked
    on its *skeleton*, the run with every character but the two separators deleted (one
    C-level ``bytes.translate``): it must be ``***~***~***~`` once an item. Its elements
    are then one ``split`` away.
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
    return None if items is None else TextRun(first, items, last)


@cache
def _deletions(keep: str) -> bytes:
    """Every latin-1 byte but those of ``keep``: ``bytes.translate`` deletes them."""
    return bytes(b for b in range(256) if chr(b) not in keep)


def _common_columns(flat: list[str], count: int) -> bool:
    """Whether every item of ``flat`` (12 elements each) is LIN, QTY 17, QTY 33."""
    return (
        flat[0::12].count("LIN") == count
        and flat[4::12].count("QTY") == count
        and flat[5::12].count(ON_HAND) == count
        and flat[8::12].count("QTY") == count
        and flat[9::12].count(AVAILABLE) == count
    )


def _flat_items(flat: list[str], count: int, component: str) -> list[InventoryItem] | None:
    """The items of ``count`` common items given as their elements, 12 an item, or None.

    The checks of the per-item fast path are made on whole columns of elements with
    C-level slices, counts and joins, and the items are built in one comprehension: no
    per-item interpreted branching.
    """
    if not _common_columns(flat, count):
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
    uoms = repeat(units, count) if isinstance(units, str) else units
    return [
        InventoryItem(sku=sku, on_hand=hand, available=avail, uom=uom, codes=code)
        for sku, hand, avail, uom, code in zip(
            skus, on_hand, available, uoms, _codes(qualifiers, count), strict=True
        )
    ]


def _codes(qualifiers: str | list[str], count: int) -> Iterable[dict[str, str]]:
    """The items' ``codes``; the usual case, one qualifier, copies one template."""
    if isinstance(qualifiers, str):
        return map(dict.copy, repeat(common_codes(qualifiers, True), count))
    return (common_codes(q, True) for q in qualifiers)


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
