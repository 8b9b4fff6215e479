"""X12 856 Ship Notice/Manifest → :class:`ShipNotice`.

Header (segments before the first HL and in shipment-level ``S`` loops)
- ``asn_number`` = BSN02; ``issued_at`` = BSN03 date + BSN04 time; ``control_number`` =
  ISA13 then ST02 (``values.control_number``: 18 digits, a later interchange is newer).
- ``ship_date`` = DTM*011 (shipped); ``expected_delivery`` = DTM*017 (estimated
  delivery), else DTM*067 (current schedule delivery).
- ``carrier`` = TD503 (the carrier's code, a SCAC when TD502 = 2), else TD505 (routing).
- ``tracking_number``: REF*2I (tracking number), else REF*CN (carrier's reference: the PRO
  or parcel number carriers track by), else REF*BM (bill of lading, what LTL freight is
  traced by). The qualifier used is kept in ``codes["tracking"]``.
- ``ship_from`` = N1*SF (ship from), else N1*SH (shipper), else N1*SU (supplier);
  ``ship_to`` = N1*ST, also looked for in order loops. The name (N102), else the id (N104).

Lines come from the HL tree (``hl_tree``), built from HL02 parent pointers. A line is an
item (``I``) or pack (``P``) loop with an SN1 or a LIN, none of whose I/P descendants
carries an SN1 — so in S/O/I and S/O/P/I the items are the lines, and in S/T/I/P the packs
under an item split its quantity (each pack its own line, keeping its own lot). Lines are
numbered 1.. in depth-first order of the tree.
- ``sku`` and ``po_line_number`` (LIN01, else SN101) from the nearest LIN at or above the
  line; ``shipped_qty``/``uom`` from its SN1 (SN102/SN103).
- ``po_number`` = PRF01 at or above the line (usually the order level).
- ``container_id`` = MAN*GM (the SSCC) at or above the line: a pack's or tare's SSCC is
  inherited by the items below it.
- ``lot`` = REF*LT (lot number), else REF*LS (bar-coded serial), at the line or an item/pack
  above it; several are joined with commas.
Header-only notices (no HL) decode to a notice without lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from ..._exceptions import PayloadError
from ..._models import ShipNotice, ShipNoticeLine
from ..base import DecodeContext
from .envelope import Transaction, where
from .hl_tree import HLNode, build_tree, walk
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

__all__ = ["map_856"]

_TRACKING: Final[tuple[str, ...]] = ("2I", "CN", "BM")
_SHIP_FROM: Final[tuple[str, ...]] = ("SF", "SH", "SU")
_LINE_LEVELS: Final[frozenset[str]] = frozenset({"I", "P"})


def map_856(txn: Transaction, ctx: DecodeContext) -> Iterator[ShipNotice]:
    """The ship notice of one 856 transaction set."""
    header: list[tuple[int, Segment]] = []
    nodes: list[HLNode] = []
    for seg in txn.segments():
        if seg[0] == "HL":
            nodes.append(_hl(seg, txn.pos))
        elif nodes:
            nodes[-1].add(seg, txn.pos)
        else:
            header.append((txn.pos, seg))
    roots = build_tree(nodes)
    notice = _header(header, txn, ctx)
    shipment = list(header)
    for node in nodes:
        if node.level == "S":
            shipment.extend(zip(node.positions, node.segments, strict=True))
    _fill_parties(notice, shipment, nodes)
    notice.lines = _lines(roots)
    yield notice


def _hl(seg: Segment, pos: int) -> HLNode:
    node_id = element(seg, 1)
    if not node_id:
        raise PayloadError("HL01 (id) is empty", where=where(pos, seg), kind="validation")
    return HLNode(node_id, element(seg, 2), element(seg, 3), pos)


def _header(header: list[tuple[int, Segment]], txn: Transaction, ctx: DecodeContext) -> ShipNotice:
    for pos, seg in header:
        if seg[0] == "BSN":
            at = where(pos, seg)
            asn = text(element(seg, 2))
            if not asn:
                raise PayloadError("BSN02 (shipment id) is empty", where=at, kind="validation")
            date = element(seg, 3)
            issued = parse_datetime(date, element(seg, 4), "", at, "BSN03") if date else None
            codes = {"BSN01": element(seg, 1), "BSN05": element(seg, 5)}
            return ShipNotice(
                asn_number=asn,
                supplier_id=ctx.supplier_id,
                issued_at=issued,
                control_number=control_number(element(txn.interchange, 13), txn.control),
                codes={k: v for k, v in codes.items() if v},
            )
    raise PayloadError(
        "856 transaction set has no BSN segment before its first HL",
        where=f"segment {txn.position} (ST)",
        kind="validation",
    )


def _fill_parties(
    notice: ShipNotice, shipment: list[tuple[int, Segment]], nodes: list[HLNode]
) -> None:
    refs: dict[str, str] = {}
    parties: dict[str, str] = {}
    for pos, seg in shipment:
        tag = seg[0]
        if tag == "DTM":
            _dtm(notice, seg, where(pos, seg))
        elif tag == "TD5" and notice.carrier is None:
            notice.carrier = text(element(seg, 3) or element(seg, 5)) or None
        elif tag == "REF":
            refs.setdefault(element(seg, 1), text(element(seg, 2)))
        elif tag == "N1":
            parties.setdefault(element(seg, 1), text(element(seg, 2) or element(seg, 4)))
    for qualifier in _TRACKING:
        if refs.get(qualifier):
            notice.tracking_number = refs[qualifier]
            notice.codes["tracking"] = qualifier
            break
    notice.ship_from = next((parties[q] for q in _SHIP_FROM if parties.get(q)), None)
    notice.ship_to = parties.get("ST") or _order_ship_to(nodes)


def _dtm(notice: ShipNotice, seg: Segment, at: str) -> None:
    qualifier, date = element(seg, 1), element(seg, 2)
    if not date:
        return
    if qualifier == "011" and notice.ship_date is None:
        notice.ship_date = parse_date(date, at, "DTM02")
    elif qualifier in ("017", "067") and (notice.expected_delivery is None or qualifier == "017"):
        notice.expected_delivery = parse_date(date, at, "DTM02")


def _order_ship_to(nodes: list[HLNode]) -> str | None:
    for node in nodes:
        if node.level == "O":
            seg = node.first("N1", "ST")
            if seg is not None:
                return text(element(seg, 2) or element(seg, 4)) or None
    return None


def _lines(roots: list[HLNode]) -> list[ShipNoticeLine]:
    emitting = _emitting(roots)
    lines: list[ShipNoticeLine] = []
    for node in walk(roots):
        if id(node) in emitting:
            lines.append(_line(node, len(lines) + 1))
    return lines


def _emitting(roots: list[HLNode]) -> set[int]:
    """ids of the line nodes (see the module docstring), found bottom-up."""
    order = list(walk(roots))
    sn1_below: set[int] = set()  # nodes with an I/P descendant that has an SN1
    emitting: set[int] = set()
    for node in reversed(order):  # children before parents
        if node.level not in _LINE_LEVELS:
            if id(node) in sn1_below and node.parent is not None:
                sn1_below.add(id(node.parent))
            continue
        has_sn1 = node.first("SN1") is not None
        if id(node) not in sn1_below and (has_sn1 or node.first("LIN") is not None):
            emitting.add(id(node))
        if (has_sn1 or id(node) in sn1_below) and node.parent is not None:
            sn1_below.add(id(node.parent))
    return emitting


def _line(node: HLNode, seq: int) -> ShipNoticeLine:
    line = ShipNoticeLine(line_seq=seq, codes={"HL": node.id, "level": node.level})
    sn1 = node.first("SN1")
    if sn1 is not None:
        qty = element(sn1, 2)
        line.shipped_qty = parse_number(qty, node.where(sn1), "SN102") if qty else None
        line.uom = element(sn1, 3) or None
    lin_node = node.find_up(lambda n: n.first("LIN") is not None)
    if lin_node is not None:
        lin = lin_node.first("LIN")
        assert lin is not None
        line.sku, qualifier = product_id(lin, 2, SKU_PRIORITY)
        if qualifier:
            line.codes["sku"] = qualifier
        line.po_line_number = text(element(lin, 1)) or None
    if line.po_line_number is None and sn1 is not None:
        line.po_line_number = text(element(sn1, 1)) or None
    prf = _up(node, "PRF")
    line.po_number = text(element(prf, 1)) or None if prf is not None else None
    man = _up(node, "MAN", "GM")
    line.container_id = text(element(man, 2)) or None if man is not None else None
    line.lot = _lot(node)
    return line


def _up(node: HLNode, tag: str, qualifier: str | None = None) -> Segment | None:
    for n in node.ancestry():
        seg = n.first(tag, qualifier)
        if seg is not None:
            return seg
    return None


def _lot(node: HLNode) -> str | None:
    for n in node.ancestry():
        if n.level not in _LINE_LEVELS:
            return None
        for qualifier in ("LT", "LS"):
            lots = [
                text(element(s, 2))
                for s in n.segments
                if s[0] == "REF" and element(s, 1) == qualifier and element(s, 2)
            ]
            if lots:
                return ",".join(lots)
    return None
