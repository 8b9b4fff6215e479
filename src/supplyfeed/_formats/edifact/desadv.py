"""DESADV (despatch advice) -> :class:`~supplyfeed.ShipNotice`.

Header
    ``BGM`` C106 document number -> ``asn_number`` (BGM01 should be 351; some senders
    leave it empty, which is accepted). ``DTM`` 11 (despatch) -> ``ship_date``; 17
    (estimated delivery), else 132 (estimated arrival), else 69 (promised delivery) ->
    ``expected_delivery``; 137 (document date) -> ``issued_at`` when it has a time of day
    (a date alone stays in ``codes``). ``control_number`` is UNB05, as for ORDRSP.
    ``RFF+ON`` in the header is the order number of every line that does not name its own.
    ``RFF+CN`` (carrier's consignment reference), else ``RFF+BM`` (bill of lading) ->
    ``tracking_number``. ``TDT`` C040 carrier id (3127), else carrier name (3128) ->
    ``carrier``.

Parties (qualifiers compared case-insensitively: senders write ``lsp`` or ``mf`` too)
    ``NAD+SF`` (ship from), else ``NAD+SU`` (supplier) -> ``ship_from``; ``NAD+ST`` (ship
    to), else ``NAD+DP`` (delivery party) -> ``ship_to``. The value is the party id (C082),
    else the first name component (C080).

Packing hierarchy
    ``CPS+id+parent`` opens a packing level whose parent is an earlier CPS (like X12 HL).
    A ``GIN+BJ`` (SSCC) read inside a CPS before its first LIN belongs to that level (the
    first one wins when several PACs of one level carry SSCCs); a line takes the SSCC of
    its own level, else of the nearest ancestor level, as ``container_id``. Parents are
    resolved to levels already read, so a malformed hierarchy (``CPS+123+123``) cannot loop.

Lines
    ``line_seq`` is the line's position in the message (1, 2, ...): LIN01 is kept in
    ``codes`` because senders repeat it. ``sku`` is LIN03, else PIA function 5, else a
    supplier article number (``:SA``), else the first PIA id. ``QTY+12`` (despatch
    quantity) -> ``shipped_qty`` and its unit -> ``uom``. Line ``RFF+ON`` -> ``po_number``,
    ``RFF+LI`` -> ``po_line_number``. ``GIN+BX`` (batch) -> ``lot``, else a PIA id of type
    ``NB`` (batch number). A ``GIN+BJ`` after the LIN is the line's own container.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from ..._exceptions import PayloadError
from ..._models import ShipNotice, ShipNoticeLine
from ..base import DecodeContext
from .envelope import Message
from .tokenizer import Segment
from .values import DateValue, first_of, parse_dtm, parse_quantity, pick_sku, read_pia

__all__ = ["decode_desadv"]

EXPECTED_ORDER: Final = ("17", "132", "69")
TRACKING_ORDER: Final = ("CN", "BM")
FROM_ORDER: Final = ("SF", "SU")
TO_ORDER: Final = ("ST", "DP")


@dataclass(slots=True)
class _Pack:
    """One CPS occurrence: its id, its resolved parent level and its SSCC."""

    id: str
    parent: _Pack | None
    sscc: str | None = None

    def container(self) -> str | None:
        level: _Pack | None = self
        while level is not None:
            if level.sscc:
                return level.sscc
            level = level.parent
        return None


@dataclass(slots=True)
class _Line:
    number: str
    item: str
    pack: _Pack | None
    ids: dict[str, str] = field(default_factory=dict)
    item_type: str = ""  # LIN03's 7143 (SRV: a GTIN)
    qty: tuple[int | float, str] | None = None
    quantities: list[str] = field(default_factory=list)
    po_number: str = ""
    po_line: str = ""
    lot: str = ""
    sscc: str = ""


@dataclass(slots=True)
class _State:
    bgm: Segment | None = None
    dates: dict[str, DateValue] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    parties: dict[str, str] = field(default_factory=dict)
    carrier: str = ""
    packs: dict[str, _Pack] = field(default_factory=dict)
    pack: _Pack | None = None
    lines: list[_Line] = field(default_factory=list)
    in_line: bool = False


def decode_desadv(message: Message, ctx: DecodeContext) -> Iterator[ShipNotice]:
    """The one ShipNotice of a DESADV message."""
    state = _State()
    for segment in message.body:
        _read(segment, state)
    yield _build(state, message, ctx)


def _read(segment: Segment, state: _State) -> None:
    tag = segment.tag
    line = state.lines[-1] if state.in_line else None
    if tag == "LIN":
        state.lines.append(
            _Line(segment.value(1), segment.value(3), state.pack, item_type=segment.value(3, 2))
        )
        state.in_line = True
    elif tag == "CPS":
        _open_pack(segment, state)
    elif tag == "GIN":
        _read_gin(segment, state, line)
    elif tag == "RFF":
        _read_rff(segment, state, line)
    elif line is not None:
        _read_line_segment(segment, line)
    else:
        _read_header_segment(segment, state)


def _read_header_segment(segment: Segment, state: _State) -> None:
    tag = segment.tag
    if tag == "BGM":
        state.bgm = segment
    elif tag == "DTM":
        value = parse_dtm(segment)
        if value is not None:
            state.dates.setdefault(value.qualifier, value)
    elif tag == "NAD":
        party = segment.value(2) or segment.value(4)
        state.parties.setdefault(segment.value(1).upper(), party)
    elif tag == "TDT" and not state.carrier:
        state.carrier = segment.value(5, 1) or segment.value(5, 4)


def _read_line_segment(segment: Segment, line: _Line) -> None:
    tag = segment.tag
    if tag == "PIA":
        read_pia(segment, line.ids)
    elif tag == "QTY":
        qualifier = segment.value(1, 1)
        line.quantities.append(qualifier)
        if qualifier == "12" and line.qty is None:
            line.qty = (parse_quantity(segment.value(1, 2), segment), segment.value(1, 3))


def _open_pack(segment: Segment, state: _State) -> None:
    pack_id, parent_id = segment.value(1), segment.value(2)
    parent = state.packs.get(parent_id) if parent_id else None
    pack = _Pack(pack_id, parent)
    state.packs[pack_id] = pack
    state.pack = pack
    state.in_line = False


def _read_gin(segment: Segment, state: _State, line: _Line | None) -> None:
    qualifier = segment.value(1).upper()
    first_id = segment.value(2, 1)
    if not first_id:
        return
    if qualifier == "BJ":
        if line is not None:
            line.sscc = line.sscc or first_id
        elif state.pack is not None and state.pack.sscc is None:
            state.pack.sscc = first_id
    elif qualifier == "BX" and line is not None:
        line.lot = line.lot or first_id


def _read_rff(segment: Segment, state: _State, line: _Line | None) -> None:
    qualifier, value = segment.value(1, 1).upper(), segment.value(1, 2)
    if line is None:
        state.refs.setdefault(qualifier, value)
    elif qualifier == "ON":
        line.po_number = line.po_number or value
    elif qualifier == "LI":
        line.po_line = line.po_line or value


def _build(state: _State, message: Message, ctx: DecodeContext) -> ShipNotice:
    bgm = state.bgm
    if bgm is None or not bgm.value(2):
        raise PayloadError(
            "DESADV without a document number (BGM)",
            where=message.header.where,
            kind="validation",
        )
    codes = {"BGM01": bgm.value(1), "UNH01": message.reference}
    issued = state.dates.get("137")
    if issued is not None and not issued.has_time:
        codes["DTM+137"] = issued.date.isoformat()
    ship = state.dates.get("11")
    expected = first_of(state.dates, EXPECTED_ORDER, codes, "DTM")
    header_po = state.refs.get("ON")
    return ShipNotice(
        asn_number=bgm.value(2),
        supplier_id=ctx.supplier_id,
        ship_date=ship.date if ship else None,
        expected_delivery=expected.date if expected else None,
        carrier=state.carrier or None,
        tracking_number=first_of(state.refs, TRACKING_ORDER, codes, "RFF") or None,
        ship_from=first_of(state.parties, FROM_ORDER, codes, "NAD_from") or None,
        ship_to=first_of(state.parties, TO_ORDER, codes, "NAD_to") or None,
        issued_at=issued.when if issued and issued.has_time else None,
        control_number=message.interchange.reference or None,
        lines=[_build_line(n, line, header_po) for n, line in enumerate(state.lines, 1)],
        codes=codes,
    )


def _build_line(seq: int, line: _Line, header_po: str | None) -> ShipNoticeLine:
    codes = {"LIN01": line.number} if line.number else {}
    if line.quantities:
        codes["QTY"] = " ".join(line.quantities)
    batch = next((v for k, v in line.ids.items() if k.endswith(":NB")), None)
    sku = pick_sku(line.item, line.ids, codes, line.item_type)
    container = line.sscc or (line.pack.container() if line.pack else None)
    return ShipNoticeLine(
        line_seq=seq,
        po_number=line.po_number or header_po or None,
        po_line_number=line.po_line or None,
        sku=sku,
        shipped_qty=line.qty[0] if line.qty else None,
        uom=(line.qty[1] or None) if line.qty else None,
        container_id=container,
        lot=line.lot or batch,
        codes=codes,
    )
