"""Canonical documents → an X12 interchange (ISA/GS/ST..SE/GE/IEA), the mirror of
``supplyfeed._formats.x12``.

The output is valid X12 with correct counts and control numbers, and the X12 decoder reads
it back to the same documents (``codes``, which record the X12 qualifiers, aside). What is
written, per kind:

- 855: one ST per acknowledgment, one GS per run of documents with the same ``issued_at``
  (GS04/GS05 carry it). BAK02 from ``status``, BAK03 PO number, BAK04 and BAK09 the ack
  date, BAK08 the ack number; PO1 with the SKU as ``SK``; an ACK per line with a status
  (ACK02 acked quantity, ACK04/05 = 067 and the promised date), a line DTM*067 for a
  promised date without a status.
- 856: BSN (issued_at), DTM 011/017, HL S with TD5/REF*2I/N1 SF,ST; an HL O (with PRF)
  per run of lines with one PO number, an HL P (with MAN*GM) per run with one container,
  an HL I (LIN, SN1, REF*LT) per line.
- 846: one ST per snapshot: BIA04/05 (``issued_at``, else ``as_of``), DTM*007 (``as_of``)
  with time code UT, N1*WH, and per item LIN*SK, QTY*17 (on hand) and QTY*33 (available).

Versions, every kind: the decoder reads ``control_number`` as ISA13 + ST02 (18 digits). A
``control_number`` of 18 digits is written as ISA13 (its first 9) and ST02 (its last 9),
one of up to 9 digits as ISA13 with ST02 the set's ordinal; without one, ISA13 is 1 for an
846 (a re-rendered report keeps its version) and drawn from the seed otherwise. Documents
whose ISA13 differ go in interchanges of their own.

Limits, raised as ``ValueError``: a value holding a delimiter (X12 has no escape), an
acked quantity without a line status, a status the code lists cannot say. Values should not
start or end with spaces (X12 readers strip padding). With ``delimiters=None`` the seed
picks a delimiter set (among those not found in the data) and a line ending.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final

from ..._formats.x12.tokenizer import X12Delimiters
from ..._models import (
    DocKind,
    Document,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    Quantity,
    ShipNotice,
    ShipNoticeLine,
)

__all__ = ["DELIMITER_SETS", "render"]

DELIMITER_SETS: Final[tuple[X12Delimiters, ...]] = (
    X12Delimiters("*", ":", "~", None),
    X12Delimiters("*", ">", "~", "^"),
    X12Delimiters("|", "^", "~", None),
    X12Delimiters("*", ">", "\n", None),
    X12Delimiters("~", "`", "*", None),
    X12Delimiters("^", "\\", "'", "{"),
)

_SET_IDS: Final[dict[DocKind, tuple[str, str]]] = {
    DocKind.PO_ACK: ("855", "PR"),
    DocKind.SHIP_NOTICE: ("856", "SH"),
    DocKind.INVENTORY_SNAPSHOT: ("846", "IB"),
}
_BAK02: Final[dict[str | None, str]] = {
    "accepted": "AD", "accepted_with_changes": "AC", "rejected": "RD", "on_hold": "AH",
    None: "ZZ",
}  # fmt: skip
_ACK01: Final[dict[str, str]] = {
    "accepted": "IA", "accepted_with_changes": "IC", "rejected": "IR", "backordered": "IB",
    "on_hold": "IH", "cancelled": "ID",
}  # fmt: skip
_EPOCH: Final = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

_Row = list[str]


def render(
    docs: Sequence[Document],
    kind: DocKind,
    *,
    seed: int = 0,
    delimiters: X12Delimiters | None = None,
) -> bytes:
    """One interchange holding ``docs`` (all of ``kind``); one per run of documents with
    one interchange control number when their control numbers differ (module docstring)."""
    rng = random.Random(seed)
    set_id, functional_id = _SET_IDS[kind]
    sets = [_transaction(doc, kind) for doc in docs]
    delims = delimiters or _pick(rng, sets)
    _check_values(sets, delims)
    eol = "" if set(delims.segment) & {"\n", "\r"} else rng.choice(("", "\n", "\r\n"))
    random_control = 100_000_000 + rng.randrange(800_000_000)
    rows: list[_Row] = []
    for control, run in _interchanges(docs, random_control):
        rows.append(_isa(delims, control, _group_time(docs[run[0]] if docs else None)))
        groups = _groups([docs[i] for i in run], [sets[i] for i in run])
        for number, (when, members) in enumerate(groups, 1):
            version = "005010" if delims.repetition else "004010"
            rows.append(["GS", functional_id, "SUPPLYFEEDSIM", "SUPPLYFEED", *_stamp(when),
                         str(number), "X", version])  # fmt: skip
            for index, body in members:
                st_control = _st_control(docs[run[index]], index)
                rows.append(["ST", set_id, st_control])
                rows.extend(body)
                rows.append(["SE", str(len(body) + 2), st_control])
            rows.append(["GE", str(len(members)), str(number)])
        rows.append(["IEA", str(len(groups)), f"{control:09d}"])
    text = "".join(_join(row, delims) + delims.segment + eol for row in rows)
    return text.encode("utf-8")


def _interchanges(docs: Sequence[Document], random_control: int) -> list[tuple[int, list[int]]]:
    """Runs of document indexes that share an ISA13, with it (one empty run for none)."""
    runs: list[tuple[int, list[int]]] = []
    for index, doc in enumerate(docs):
        control = _isa13(doc, random_control)
        if runs and runs[-1][0] == control:
            runs[-1][1].append(index)
        else:
            runs.append((control, [index]))
    return runs or [(random_control, [])]


def _isa13(doc: Document, random_control: int) -> int:
    """The interchange control number that writes ``doc``'s version (module docstring)."""
    own = doc.control_number
    if own and own.isascii() and own.isdecimal() and len(own) in (18, *range(1, 10)):
        return int(own[:9]) if len(own) == 18 else int(own)
    # an inventory report's ISA13 is its version: a fixed one keeps a re-rendered report
    # at the same version, as a supplier re-serving one report would
    return 1 if isinstance(doc, InventorySnapshot) else random_control


def _join(row: _Row, delims: X12Delimiters) -> str:
    while len(row) > 1 and row[-1] == "":
        row = row[:-1]  # X12 drops trailing empty elements
    return delims.element.join(row)


def _pick(rng: random.Random, sets: list[list[_Row]]) -> X12Delimiters:
    used = {c for body in sets for row in body for value in row for c in value}
    fits = [d for d in DELIMITER_SETS if not _chars(d) & used]
    if not fits:
        raise ValueError("every X12 delimiter set clashes with characters in the data")
    return rng.choice(fits)


def _chars(d: X12Delimiters) -> set[str]:
    return set(d.element + d.component + d.segment + (d.repetition or ""))


def _check_values(sets: list[list[_Row]], delims: X12Delimiters) -> None:
    # only the terminator may be non-ASCII: readers find it after ISA16, byte sequence and all
    if not (delims.element + delims.component + (delims.repetition or "")).isascii():
        raise ValueError("X12 element, component and repetition separators must be ASCII")
    forbidden = _chars(delims) | {"\r", "\n"}
    for body in sets:
        for row in body:
            for value in row:
                if forbidden & set(value):
                    raise ValueError(f"X12 value {value!r} holds a delimiter; X12 has no escape")


def _isa(d: X12Delimiters, control: int, when: dt.datetime) -> _Row:
    return ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "SUPPLYFEEDSIM".ljust(15),
            "ZZ", "SUPPLYFEED".ljust(15), when.strftime("%y%m%d"), when.strftime("%H%M"),
            d.repetition or "U", "00501" if d.repetition else "00401", f"{control:09d}", "0",
            "P", d.component]  # fmt: skip


def _groups(
    docs: Sequence[Document], sets: list[list[_Row]]
) -> list[tuple[dt.datetime, list[tuple[int, list[_Row]]]]]:
    """Runs of documents with one creation time: a 855's issued_at lives in GS04/GS05."""
    groups: list[tuple[dt.datetime, list[tuple[int, list[_Row]]]]] = []
    for index, (doc, body) in enumerate(zip(docs, sets, strict=True)):
        when = _group_time(doc)
        if groups and (groups[-1][0] == when or not isinstance(doc, PoAck)):
            groups[-1][1].append((index, body))
        else:
            groups.append((when, [(index, body)]))
    return groups


def _group_time(doc: Document | None) -> dt.datetime:
    if isinstance(doc, PoAck | ShipNotice) and doc.issued_at is not None:
        return _utc(doc.issued_at)
    if isinstance(doc, InventorySnapshot):
        return _utc(doc.as_of)
    return _EPOCH


def _st_control(doc: Document, index: int) -> str:
    """ST02: the last 9 digits of an 18-digit control number (the decoder's ISA13 + ST02),
    else the set's ordinal."""
    own = doc.control_number
    if own and len(own) == 18 and own.isascii() and own.isdecimal():
        return own[9:]
    return f"{index + 1:04d}"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _stamp(value: dt.datetime) -> list[str]:
    """[CCYYMMDD, HHMMSS or HHMMSSDD] of a UTC instant (hundredths of a second at most)."""
    value = _utc(value)
    time = value.strftime("%H%M%S")
    if value.microsecond:
        time += f"{value.microsecond // 10_000:02d}"
    return [value.strftime("%Y%m%d"), time]


def _num(value: Quantity | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(value)), "f")  # positional, never 1e-05


def _date(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value is not None else ""


def _transaction(doc: Document, kind: DocKind) -> list[_Row]:
    writers: dict[DocKind, Callable[[Document], list[_Row]]] = {
        DocKind.PO_ACK: _855, DocKind.SHIP_NOTICE: _856, DocKind.INVENTORY_SNAPSHOT: _846,
    }  # fmt: skip
    expected = {DocKind.PO_ACK: PoAck, DocKind.SHIP_NOTICE: ShipNotice}.get(kind, InventorySnapshot)
    if not isinstance(doc, expected):
        raise ValueError(f"a {type(doc).__name__} cannot be rendered as {kind.value}")
    return writers[kind](doc)


# -- 855 -------------------------------------------------------------------------------


def _855(doc: Document) -> list[_Row]:
    assert isinstance(doc, PoAck)
    if doc.status not in _BAK02:
        raise ValueError(f"no BAK02 code says status {doc.status!r}")
    day = doc.ack_date or _group_time(doc).date()
    rows: list[_Row] = [["BAK", "00", _BAK02[doc.status], doc.po_number, _date(day), "", "", "",
                         doc.ack_number, _date(doc.ack_date)]]  # fmt: skip
    for line in doc.lines:
        rows.extend(_855_line(line))
    rows.append(["CTT", str(len(doc.lines))])
    return rows


def _855_line(line: PoAckLine) -> list[_Row]:
    ids = ["SK", line.sku] if line.sku else []
    rows: list[_Row] = [["PO1", line.line_number, _num(line.ordered_qty), line.uom or "",
                         _num(line.unit_price), "", *ids]]  # fmt: skip
    promised = ["067", _date(line.promised_date)] if line.promised_date else []
    if line.line_status is not None:
        code = _ACK01.get(line.line_status)
        if code is None:
            raise ValueError(f"no ACK01 code says line status {line.line_status!r}")
        rows.append(["ACK", code, _num(line.acked_qty), line.uom or "", *promised])
    elif line.acked_qty is not None:
        raise ValueError("an acked quantity needs a line status in X12 (ACK01)")
    elif promised:
        rows.append(["DTM", *promised])
    return rows


# -- 856 -------------------------------------------------------------------------------


def _856(doc: Document) -> list[_Row]:
    assert isinstance(doc, ShipNotice)
    rows: list[_Row] = [["BSN", "00", doc.asn_number, *_stamp(_group_time(doc)), "0001"]]
    if doc.ship_date:
        rows.append(["DTM", "011", _date(doc.ship_date)])
    if doc.expected_delivery:
        rows.append(["DTM", "017", _date(doc.expected_delivery)])
    if not doc.lines and not _has_shipment_data(doc):
        return [*rows, ["CTT", "0"]]
    rows.append(["HL", "1", "", "S"])
    rows.extend(_shipment(doc))
    hl_count = _856_lines(doc.lines, rows)
    rows.append(["CTT", str(hl_count)])
    return rows


def _has_shipment_data(doc: ShipNotice) -> bool:
    return any((doc.carrier, doc.tracking_number, doc.ship_from, doc.ship_to))


def _shipment(doc: ShipNotice) -> list[_Row]:
    rows: list[_Row] = []
    if doc.carrier:
        rows.append(["TD5", "", "2", doc.carrier])
    if doc.tracking_number:
        rows.append(["REF", "2I", doc.tracking_number])
    if doc.ship_from:
        rows.append(["N1", "SF", doc.ship_from])
    if doc.ship_to:
        rows.append(["N1", "ST", doc.ship_to])
    return rows


def _856_lines(lines: list[ShipNoticeLine], rows: list[_Row]) -> int:
    """HL O / P / I loops; returns the number of HL segments written."""
    count, order, pack = 1, "", ""
    last_po: object = object()
    last_container: object = object()
    for line in lines:
        if line.po_number != last_po:
            count += 1
            order, last_po, last_container = str(count), line.po_number, object()
            rows.append(["HL", order, "1", "O"])
            if line.po_number:
                rows.append(["PRF", line.po_number])
        if line.container_id and line.container_id != last_container:
            count += 1
            pack, last_container = str(count), line.container_id
            rows.extend([["HL", pack, order, "P"], ["MAN", "GM", line.container_id]])
        elif not line.container_id:
            last_container = object()
        count += 1
        rows.append(["HL", str(count), pack if line.container_id else order, "I"])
        rows.extend(_item(line))
    return count


def _item(line: ShipNoticeLine) -> list[_Row]:
    ids = ["SK", line.sku] if line.sku else []
    rows: list[_Row] = [["LIN", line.po_line_number or "", *ids]]
    if line.shipped_qty is not None or line.uom:
        rows.append(["SN1", "", _num(line.shipped_qty), line.uom or ""])
    if line.lot:
        rows.append(["REF", "LT", line.lot])
    return rows


# -- 846 -------------------------------------------------------------------------------


def _846(doc: Document) -> list[_Row]:
    assert isinstance(doc, InventorySnapshot)
    issued = _stamp(doc.issued_at or doc.as_of)
    rows: list[_Row] = [["BIA", "00", "SI", "SNAPSHOT", *issued]]
    rows.append(["DTM", "007", *_stamp(doc.as_of), "UT"])
    if doc.warehouse_id:
        rows.append(["N1", "WH", doc.warehouse_id, "92", doc.warehouse_id])
    for item in doc.items:
        rows.append(["LIN", "", "SK", item.sku])
        rows.append(["QTY", "17", _num(item.on_hand), item.uom])
        if item.available is not None:
            rows.append(["QTY", "33", _num(item.available), item.uom])
    rows.append(["CTT", str(len(doc.items))])
    return rows
