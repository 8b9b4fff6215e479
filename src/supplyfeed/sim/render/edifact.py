"""EDIFACT renderer: canonical documents -> an EANCOM-style D96A interchange.

The inverse of ``supplyfeed._formats.edifact``: decoding what this writes gives the same
documents back, apart from ``codes`` (the raw qualifiers the decoder records) and
``supplier_id`` (which a decoder takes from the feed). What the mapping cannot carry:

- ``PoAck.ack_date`` is the date of ``issued_at`` when both are set (one DTM 137);
- a ``status``/``line_status`` outside the decoder's mapping is not written (reads back
  ``None``); a ``backordered`` line is written as accepted with QTY+83, so it needs an
  ``acked_qty``; a ``uom`` needs a quantity to ride on;
- ``ShipNoticeLine.line_seq`` reads back as the line's position (1, 2, ...);
- ``InventoryItem.available`` is written as a committed quantity (QTY+66 = on hand -
  available), computed in ``Decimal`` so it reads back exactly;
- times are written in UTC to the second;
- an ``InventorySnapshot``'s ``issued_at`` is DTM 137 beside DTM 366 (``as_of``); one
  without a ``control_number`` gets UNB05 ``1``, so that a re-rendered report keeps its
  version (the decoder reads UNB05 as the control number of every document).

Documents are grouped into one interchange per run of equal ``control_number`` (it is
UNB05 to the decoder), each message with correct UNT/UNZ counts, values escaped with the
release character, and UNOC (latin-1) or UNOY (UTF-8) as the text requires.

With ``delimiters=None`` the seed varies things a decoder must not care about: the
service characters (announced by UNA), whether the default UNA is written at all, line
breaks after terminators, CPS nesting in ship notices, and the multi-location INVRPT
structure when several snapshots share one instant.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import Decimal, localcontext
from itertools import groupby
from typing import Final, TypeVar

from ..._formats.edifact.tokenizer import DEFAULT_DELIMITERS, EdifactDelimiters, SegmentReader
from ..._formats.edifact.values import number_text
from ..._models import (
    DOCUMENT_TYPES,
    DocKind,
    Document,
    InventorySnapshot,
    PoAck,
    ShipNotice,
    ShipNoticeLine,
)

__all__ = ["corrupt", "render"]

_T = TypeVar("_T", str, list[str])
Seg = list[list[str]]  # a segment before escaping: tag element first, then data elements

_VARIANTS: Final = (
    DEFAULT_DELIMITERS,
    EdifactDelimiters(decimal=","),
    EdifactDelimiters("^", "|", ".", "!", "*", "~"),
    EdifactDelimiters(":", "*", ".", "\\", " ", "#"),
)
_STATUS_CODES: Final = {
    "accepted": "29",
    "accepted_with_changes": "4",
    "rejected": "27",
    "replaced": "5",
    "cancelled": "1",
}
_ACTION_CODES: Final = {
    "accepted": "5",
    "accepted_with_changes": "3",
    "rejected": "7",
    "deleted": "2",
    "added": "1",
    "backordered": "5",
}


def render(
    docs: Sequence[Document],
    kind: DocKind,
    *,
    seed: int = 0,
    delimiters: EdifactDelimiters | None = None,
) -> bytes:
    """An EDIFACT body holding ``docs`` (all of type ``kind``)."""
    expected = DOCUMENT_TYPES[kind]
    for doc in docs:
        if not isinstance(doc, expected):
            raise TypeError(f"a {kind.value} body cannot hold {type(doc).__name__}")
    rng = random.Random(seed)
    chosen = delimiters or rng.choice(_VARIANTS)
    chosen.check()
    with_una = chosen != DEFAULT_DELIMITERS or delimiters is not None or rng.random() < 0.5
    newline = rng.choice(("", "\n", "\r\n"))
    writer = _Writer(chosen, rng, seed)
    for syntax, encoding in (("UNOC", "latin-1"), ("UNOY", "utf-8")):
        text = writer.interchanges(docs, kind, syntax, newline)
        if with_una:
            text = chosen.una() + newline + text
        try:
            return text.encode(encoding)
        except UnicodeEncodeError:
            continue
    raise ValueError("documents hold characters UTF-8 cannot encode")


def corrupt(body: bytes) -> bytes:
    """The first half of ``body`` cut at a segment end, then a segment with a bad tag.

    A bad tag is a syntax error under either envelope policy, so the decoder always
    rejects the result (a mere cut would only be an envelope warning under ``warn``).
    """
    delimiters = SegmentReader(body).delimiters
    term = delimiters.terminator.encode("latin-1")
    head = body[: len(body) // 2]
    cut = head.rfind(term)
    return head[: cut + 1 if cut >= 0 else 0] + b"%%corrupt" + term


class _Writer:
    def __init__(self, delimiters: EdifactDelimiters, rng: random.Random, seed: int) -> None:
        self._d = delimiters
        self._rng = rng
        self._seed = seed
        specials = delimiters.release + delimiters.separators
        if delimiters.reserved != " ":
            specials += delimiters.reserved
        release = delimiters.release
        self._escape = str.maketrans({c: release + c for c in specials}) if release else {}

    def interchanges(
        self, docs: Sequence[Document], kind: DocKind, syntax: str, newline: str
    ) -> str:
        rng_state = self._rng.getstate()  # the UNOY retry must make the same choices
        parts: list[str] = []
        for number, (control, run) in enumerate(groupby(docs, key=_control), 1):
            reference = control or f"{self._seed % 1_000_000 + number}"
            parts.append(self._interchange(list(run), kind, syntax, reference, newline))
        self._rng.setstate(rng_state)
        if not parts:  # no documents: still a valid, empty interchange
            parts.append(self._interchange([], kind, syntax, str(self._seed + 1), newline))
        return "".join(parts)

    def _interchange(
        self, docs: list[Document], kind: DocKind, syntax: str, ref: str, newline: str
    ) -> str:
        sender = next((d.supplier_id for d in docs if d.supplier_id), "SUPPLIER")
        prepared = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=self._seed)
        unb = [
            ["UNB"],
            [syntax, "3"],
            [sender, "ZZZ"],
            ["SUPPLYFEED", "ZZZ"],
            [prepared.strftime("%y%m%d"), prepared.strftime("%H%M")],
            [ref],
        ]
        segments = [unb]
        messages = self._messages(docs, kind)
        for number, body in enumerate(messages, 1):
            msg_ref = f"M{number}"
            segments.append([["UNH"], [msg_ref], _MESSAGE_IDS[kind]])
            segments.extend(body)
            segments.append([["UNT"], [str(len(body) + 2)], [msg_ref]])
        segments.append([["UNZ"], [str(len(messages))], [ref]])
        return "".join(self._segment(s) + newline for s in segments)

    def _segment(self, segment: Seg) -> str:
        d = self._d
        return (
            d.element.join(
                d.component.join(c.translate(self._escape) for c in _trim(element))
                for element in _trim(segment)
            )
            + d.terminator
        )

    def _messages(self, docs: list[Document], kind: DocKind) -> list[list[Seg]]:
        if kind is DocKind.PO_ACK:
            return [self._ordrsp(d) for d in docs if isinstance(d, PoAck)]
        if kind is DocKind.SHIP_NOTICE:
            return [self._desadv(d) for d in docs if isinstance(d, ShipNotice)]
        snapshots = [d for d in docs if isinstance(d, InventorySnapshot)]
        return self._invrpts(snapshots)

    def _num(self, value: int | float | Decimal) -> str:
        return number_text(value, self._d.decimal)

    def _ordrsp(self, ack: PoAck) -> list[Seg]:
        segments: list[Seg] = [
            [["BGM"], ["231"], [ack.ack_number], [_code(_STATUS_CODES, ack.status)]]
        ]
        if ack.issued_at is not None:
            segments.append(_dtm("137", ack.issued_at))
        elif ack.ack_date is not None:
            segments.append(_dtm("137", ack.ack_date))
        segments.append([["RFF"], ["ON", ack.po_number]])
        for line in ack.lines:
            unit = line.uom or ""
            action = _code(_ACTION_CODES, line.line_status)
            segments.append([["LIN"], [line.line_number], [action], _item_number(line.sku)])
            if line.ordered_qty is not None:
                segments.append([["QTY"], ["21", self._num(line.ordered_qty), unit]])
            if line.acked_qty is not None:
                qualifier = "83" if line.line_status == "backordered" else "113"
                segments.append([["QTY"], [qualifier, self._num(line.acked_qty), unit]])
            if line.unit_price is not None:
                segments.append([["PRI"], ["AAA", self._num(line.unit_price)]])
            if line.promised_date is not None:
                segments.append(_dtm("69", line.promised_date))
        return segments

    def _desadv(self, asn: ShipNotice) -> list[Seg]:
        segments: list[Seg] = [[["BGM"], ["351"], [asn.asn_number], ["9"]]]
        if asn.issued_at is not None:
            segments.append(_dtm("137", asn.issued_at))
        if asn.ship_date is not None:
            segments.append(_dtm("11", asn.ship_date))
        if asn.expected_delivery is not None:
            segments.append(_dtm("17", asn.expected_delivery))
        if asn.tracking_number is not None:
            segments.append([["RFF"], ["CN", asn.tracking_number]])
        for qualifier, party in (("SF", asn.ship_from), ("ST", asn.ship_to)):
            if party is not None:
                segments.append([["NAD"], [qualifier], [party, "", "9"]])
        if asn.carrier is not None:
            segments.append([["TDT"], ["20"], [], [], [], [asn.carrier]])
        segments.extend(self._packed_lines(asn))
        return segments

    def _packed_lines(self, asn: ShipNotice) -> list[Seg]:
        segments: list[Seg] = []
        level = 0
        for container, run in groupby(asn.lines, key=lambda line: line.container_id):
            level += 1
            segments.append([["CPS"], [str(level)]])
            if container is not None:
                segments.append([["PAC"], ["1"], [], ["201"]])
                segments.append([["GIN"], ["BJ"], [container]])
                if self._rng.random() < 0.5:  # cartons under the pallet inherit its SSCC
                    level += 1
                    segments.append([["CPS"], [str(level)], [str(level - 1)]])
                    segments.append([["PAC"], ["1"], [], ["CT"]])
            for line in run:
                segments.extend(self._despatch_line(line))
        return segments

    def _despatch_line(self, line: ShipNoticeLine) -> list[Seg]:
        segments: list[Seg] = [[["LIN"], [str(line.line_seq)], [], _item_number(line.sku)]]
        if line.shipped_qty is not None:
            segments.append([["QTY"], ["12", self._num(line.shipped_qty), line.uom or ""]])
        if line.po_number is not None:
            segments.append([["RFF"], ["ON", line.po_number]])
        if line.po_line_number is not None:
            segments.append([["RFF"], ["LI", line.po_line_number]])
        if line.lot is not None:
            segments.append([["GIN"], ["BX"], [line.lot]])
        return segments

    def _invrpts(self, snapshots: list[InventorySnapshot]) -> list[list[Seg]]:
        messages: list[list[Seg]] = []
        for _, run in groupby(snapshots, key=lambda s: (s.as_of, s.issued_at)):
            group = list(run)
            names = [s.warehouse_id for s in group]
            extended = (
                len(group) > 1
                and all(s.items for s in group)
                and len(set(names)) == len(names)
                and self._rng.random() < 0.5
            )
            if extended:
                messages.append(self._invrpt(group, located=True))
            else:
                messages.extend(self._invrpt([s], located=False) for s in group)
        return messages

    def _invrpt(self, group: list[InventorySnapshot], *, located: bool) -> list[Seg]:
        first = group[0]
        segments: list[Seg] = [
            [["BGM"], ["35"], [f"INV{self._seed}"], ["9"]],
            _dtm("366", first.as_of),
        ]
        if first.issued_at is not None:
            segments.append(_dtm("137", first.issued_at))
        if not located:
            segments.append([["LOC"], ["18"], [first.warehouse_id, "", "9"]])
        number = 0
        for snapshot in group:
            for item in snapshot.items:
                number += 1
                unit = "" if item.uom == "EA" else item.uom
                segments.append([["LIN"], [str(number)], [], _item_number(item.sku)])
                segments.append([["QTY"], ["145", self._num(item.on_hand), unit]])
                if located:
                    segments.append([["LOC"], ["18"], [snapshot.warehouse_id, "", "9"]])
                if item.available is not None:
                    with localcontext(prec=1000):  # exact: the decoder subtracts back
                        held = _exact(item.on_hand) - _exact(item.available)
                    segments.append([["QTY"], ["66", self._num(held), unit]])
                    if located:
                        segments.append([["LOC"], ["18"], [snapshot.warehouse_id, "", "9"]])
        return segments


_MESSAGE_IDS: Final = {
    DocKind.PO_ACK: ["ORDRSP", "D", "96A", "UN", "EAN008"],
    DocKind.SHIP_NOTICE: ["DESADV", "D", "96A", "UN", "EAN007"],
    DocKind.INVENTORY_SNAPSHOT: ["INVRPT", "D", "96A", "UN", "EAN008"],
}


def _control(doc: Document) -> str | None:
    if isinstance(doc, InventorySnapshot):
        return doc.control_number or "1"  # see the module docstring
    return doc.control_number


def _code(codes: dict[str, str], status: str | None) -> str:
    return codes.get(status or "", "")


def _exact(value: int | float) -> Decimal:
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _dtm(qualifier: str, value: dt.date | dt.datetime) -> Seg:
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        if utc.second:
            return [["DTM"], [qualifier, utc.strftime("%Y%m%d%H%M%S"), "204"]]
        return [["DTM"], [qualifier, utc.strftime("%Y%m%d%H%M"), "203"]]
    return [["DTM"], [qualifier, value.strftime("%Y%m%d"), "102"]]


def _trim(values: list[_T]) -> list[_T]:
    """Drop trailing empty components/elements, as EDIFACT writers do."""
    end = len(values)
    while end > 1 and not any(values[end - 1]):
        end -= 1
    return values[:end]


def _item_number(sku: str | None) -> list[str]:
    """LIN03: the item number and its type (7143), SRV (a GS1 GTIN) only for a number
    shaped like one; other SKUs are the supplier's article numbers (SA), as a supplier
    would send them (a decoder checks an SRV's check digit)."""
    sku = sku or ""
    gtin = sku.isascii() and sku.isdigit() and len(sku) in (8, 12, 13, 14)
    return [sku, "SRV" if gtin else "SA"]
