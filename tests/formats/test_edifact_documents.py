"""EDIFACT messages to canonical documents: ORDRSP, DESADV, INVRPT and their envelopes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TypeVar

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.edifact.documents import decode
from supplyfeed._formats.registry import get_decoder
from supplyfeed._models import DocKind, Document, InventorySnapshot, PoAck, ShipNotice
from supplyfeed._sink.schema import version_key, version_of

_D = TypeVar("_D", PoAck, ShipNotice, InventorySnapshot)

ORDRSP = """UNA:+.? '
UNB+UNOC:3+SUP+BUY+260301:0800+IC42'
UNH+1+ORDRSP:D:96A:UN:EAN008'
BGM+231+ACK-9+4'
DTM+137:202603010800:203'
RFF+ON:PO-77'
LIN+1+5+4000000000017:SRV'
QTY+21:10'
QTY+113:10:PCE'
PRI+AAA:2.50'
DTM+69:20260310:102'
LIN+2+3'
PIA+5+ART?+2:SA'
QTY+21:5'
QTY+113:3'
PRI+AAE:9'
LIN+3+7'
PIA+1+ART-3:SA'
QTY+21:4'
LIN+4+5'
PIA+5+ART-4:SA'
QTY+21:6'
QTY+83:6'
DTM+44:20260401:102'
UNT+23+1'
UNZ+1+IC42'
"""

DESADV = """UNB+UNOC:3+SUP+BUY+260302:0900+IC43'
UNH+M1+DESADV:D:96A:UN:EAN007'
BGM+351+ASN-1+9'
DTM+137:20260302090000:204'
DTM+11:20260302:102'
DTM+132:20260305:102'
RFF+ON:PO-77'
RFF+BM:BOL-5'
NAD+SU+4000000000001::9'
NAD+ST+4000000000002::9'
TDT+20++30++DHL:::DHL Freight'
CPS+1'
PAC+1++201'
GIN+BJ+340000000000000017'
CPS+2+1'
PAC+4++CT'
LIN+1++4000000000017:SRV'
QTY+12:10'
RFF+LI:1'
GIN+BX+LOT-A'
CPS+3'
PAC+1++201'
GIN+BJ+340000000000000024'
LIN+2++4000000000024:SRV'
PIA+1+B-9:NB'
QTY+12:2.5:KGM'
RFF+ON:PO-78'
CPS+4'
LIN+3++4000000000031:SRV'
QTY+12:1'
UNT+30+M1'
UNZ+1+IC43'
"""

INVRPT = """UNB+UNOC:3+SUP+BUY+260303:0700+IC44'
UNH+1+INVRPT:D:96A:UN:EAN008'
BGM+35+INV-1+9'
DTM+137:20260303:102'
DTM+366:202603030600:203'
NAD+GY+4000000000009::9'
LOC+18+W01'
LIN+1++SKU-1:SRV'
QTY+145:100'
QTY+66:20'
QTY+198:7'
LIN+2++SKU-2:SRV'
QTY+145:40'
QTY+145:25'
LIN+3++SKU-3:SRV'
QTY+145:5'
LOC+18+W01'
QTY+145:8'
LOC+18+W02'
QTY+124:1'
LOC+18+W02'
UNT+21+1'
UNZ+1+IC44'
"""


def _decode(
    text: str | bytes,
    kind: DocKind,
    *,
    policy: Literal["strict", "warn"] = "strict",
    max_items: int = 10_000,
) -> tuple[list[Document], DecodeContext]:
    data = text.encode("latin-1") if isinstance(text, str) else text
    ctx = DecodeContext(
        kind=kind, supplier_id="SUP", envelope_policy=policy, max_items_per_part=max_items
    )
    return list(decode(Body.from_bytes(data), ctx)), ctx


def _one(docs: Sequence[Document], cls: type[_D]) -> _D:
    assert len(docs) == 1
    assert isinstance(docs[0], cls)
    return docs[0]


def test_registry_points_at_this_decoder() -> None:
    """The registry's 'edifact' entry is documents.decode."""
    assert get_decoder("edifact") is decode


def test_ordrsp_header_maps_to_po_ack() -> None:
    """BGM number, RFF+ON, DTM 137 and BGM function 4 give the PoAck header."""
    ack = _one(_decode(ORDRSP, DocKind.PO_ACK)[0], PoAck)
    assert (ack.po_number, ack.ack_number, ack.supplier_id) == ("PO-77", "ACK-9", "SUP")
    assert ack.status == "accepted_with_changes"
    assert ack.issued_at == dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    assert ack.ack_date == dt.date(2026, 3, 1)
    assert ack.control_number == "IC42"
    assert ack.codes["BGM03"] == "4"


def test_ordrsp_lines_map_action_codes_quantities_prices_and_dates() -> None:
    """LIN02 action, QTY 21/113/83, PRI and DTM 69/44 give each line."""
    ack = _one(_decode(ORDRSP, DocKind.PO_ACK)[0], PoAck)
    first, second, third, fourth = ack.lines
    assert (first.sku, first.ordered_qty, first.acked_qty, first.uom) == (
        "4000000000017",
        10,
        10,
        "PCE",
    )
    assert (first.line_status, first.unit_price) == ("accepted", 2.5)
    assert first.promised_date == dt.date(2026, 3, 10)
    assert (second.sku, second.acked_qty, second.line_status) == (
        "ART+2",
        3,
        "accepted_with_changes",
    )
    assert (second.unit_price, second.codes["PRI"]) == (9.0, "AAE")
    assert (third.sku, third.line_status, third.acked_qty) == ("ART-3", "rejected", None)
    assert (fourth.line_status, fourth.acked_qty) == ("backordered", 6)
    assert fourth.promised_date == dt.date(2026, 4, 1)
    assert fourth.codes["LIN02"] == "5"


def test_desadv_maps_header_parties_carrier_and_tracking() -> None:
    """DTM 11/132/137, NAD SU/ST, TDT carrier and RFF+BM give the ShipNotice header."""
    asn = _one(_decode(DESADV, DocKind.SHIP_NOTICE)[0], ShipNotice)
    assert asn.asn_number == "ASN-1"
    assert (asn.ship_date, asn.expected_delivery) == (dt.date(2026, 3, 2), dt.date(2026, 3, 5))
    assert asn.issued_at == dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)
    assert (asn.ship_from, asn.ship_to) == ("4000000000001", "4000000000002")
    assert (asn.carrier, asn.tracking_number) == ("DHL", "BOL-5")


def test_desadv_lines_inherit_sscc_through_the_cps_hierarchy() -> None:
    """A carton level without SSCC takes its pallet's; a level without any has none."""
    asn = _one(_decode(DESADV, DocKind.SHIP_NOTICE)[0], ShipNotice)
    first, second, third = asn.lines
    assert [line.line_seq for line in asn.lines] == [1, 2, 3]
    assert (first.container_id, first.lot, first.po_number, first.po_line_number) == (
        "340000000000000017",
        "LOT-A",
        "PO-77",
        "1",
    )
    assert (second.container_id, second.lot, second.po_number) == (
        "340000000000000024",
        "B-9",
        "PO-78",
    )
    assert (second.shipped_qty, second.uom) == (2.5, "KGM")
    assert (third.container_id, third.shipped_qty) == (None, 1)


def test_invrpt_maps_locations_on_hand_and_available() -> None:
    """Header LOC is the default warehouse; LOC after QTY moves a quantity to another one."""
    snapshots, _ = _decode(INVRPT, DocKind.INVENTORY_SNAPSHOT)
    assert all(isinstance(s, InventorySnapshot) for s in snapshots)
    by_wh = {s.warehouse_id: s for s in snapshots if isinstance(s, InventorySnapshot)}
    assert sorted(by_wh) == ["W01", "W02"]
    w01 = {i.sku: i for i in by_wh["W01"].items}
    assert (w01["SKU-1"].on_hand, w01["SKU-1"].available) == (100, 80)
    assert (w01["SKU-2"].on_hand, w01["SKU-2"].available) == (40, None)  # later 145: a split
    assert (w01["SKU-3"].on_hand, w01["SKU-3"].available) == (5, None)
    w02 = {i.sku: i for i in by_wh["W02"].items}
    assert (w02["SKU-3"].on_hand, w02["SKU-3"].available) == (8, 7)
    assert by_wh["W01"].as_of == dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC)
    assert w01["SKU-1"].codes["QTY"] == "145 66 198"


def test_invrpt_streams_parts_keeping_each_warehouse_consecutive() -> None:
    """Parts hold at most max_items_per_part items and one warehouse's parts are adjacent."""
    lines = "".join(f"LIN+{n}++S{n}:SRV'QTY+145:{n}'" for n in range(1, 8))
    lines += "LIN+8++S8:SRV'QTY+145:1'LOC+18+W02'"
    body = (
        "UNB+UNOC:3+S+R+1+1'UNH+1+INVRPT:D:96A:UN'BGM+35+I+9'DTM+137:20260101:102'"
        f"LOC+18+W01'{lines}UNT+22+1'UNZ+1+1'"
    )
    parts, _ = _decode(body, DocKind.INVENTORY_SNAPSHOT, max_items=3)
    snaps = [p for p in parts if isinstance(p, InventorySnapshot)]
    assert [(s.warehouse_id, len(s.items)) for s in snaps] == [
        ("W01", 3),
        ("W01", 3),
        ("W01", 1),
        ("W02", 1),
    ]


def test_several_messages_in_one_interchange() -> None:
    """Each UNH..UNT is one document; UNZ01 counts them."""
    msg = "UNH+{n}+DESADV:D:96A:UN'BGM+351+A{n}'UNT+3+{n}'"
    body = "UNB+UNOC:3+S+R+1+9'" + "".join(msg.format(n=n) for n in (1, 2, 3)) + "UNZ+3+9'"
    docs, _ = _decode(body, DocKind.SHIP_NOTICE)
    assert [d.asn_number for d in docs if isinstance(d, ShipNotice)] == ["A1", "A2", "A3"]


def test_groups_are_counted_by_une_and_unz() -> None:
    """With UNG..UNE, UNE01 counts messages and UNZ01 counts groups."""
    body = (
        "UNB+UNOC:3+S+R+1+9'UNG+DESADV+S+R+1+G1'"
        "UNH+1+DESADV:D:96A:UN'BGM+351+A1'UNT+3+1'UNH+2+DESADV:D:96A:UN'BGM+351+A2'UNT+3+2'"
        "UNE+2+G1'UNZ+1+9'"
    )
    docs, _ = _decode(body, DocKind.SHIP_NOTICE)
    assert len(docs) == 2


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("UNT+3+1'", "UNT+4+1'", "segment 4 (UNT)"),
        ("UNT+3+1'", "UNT+3+2'", "segment 4 (UNT)"),
        ("UNZ+1+9'", "UNZ+2+9'", "segment 5 (UNZ)"),
        ("UNZ+1+9'", "UNZ+1+8'", "segment 5 (UNZ)"),
        ("UNZ+1+9'", "", "segment 4 (UNT)"),
        ("UNT+3+1'", "", "segment 4 (UNZ)"),
    ],
)
def test_envelope_errors_name_the_segment(old: str, new: str, where: str) -> None:
    """Count and reference mismatches, and missing trailers, are envelope errors."""
    good = "UNB+UNOC:3+S+R+1+9'UNH+1+DESADV:D:96A:UN'BGM+351+A1'UNT+3+1'UNZ+1+9'"
    with pytest.raises(PayloadError) as info:
        _decode(good.replace(old, new), DocKind.SHIP_NOTICE)
    assert (info.value.kind, info.value.where) == ("envelope", where)


def test_warn_policy_records_mismatch_and_keeps_documents() -> None:
    """Under 'warn' a wrong UNT count is a warning and the document is still decoded."""
    body = "UNB+UNOC:3+S+R+1+9'UNH+1+DESADV:D:96A:UN'BGM+351+A1'UNT+14+1'UNZ+1+9'"
    docs, ctx = _decode(body, DocKind.SHIP_NOTICE, policy="warn")
    assert len(docs) == 1
    assert ctx.warnings == ["UNT01 says '14' segments, counted 3 (at segment 4 (UNT))"]


def test_message_type_must_match_the_feed_kind() -> None:
    """A DESADV in a po_ack feed is a kind_mismatch naming its UNH."""
    with pytest.raises(PayloadError) as info:
        _decode(DESADV, DocKind.PO_ACK)
    assert (info.value.kind, info.value.where) == ("kind_mismatch", "segment 2 (UNH)")


def test_missing_document_number_is_a_validation_error() -> None:
    """A DESADV without BGM cannot be keyed and is rejected."""
    body = "UNB+UNOC:3+S+R+1+9'UNH+1+DESADV:D:96A:UN'DTM+11:20260101:102'UNT+3+1'UNZ+1+9'"
    with pytest.raises(PayloadError) as info:
        _decode(body, DocKind.SHIP_NOTICE)
    assert (info.value.kind, info.value.where) == ("validation", "segment 2 (UNH)")


def test_bad_date_names_the_dtm_segment() -> None:
    """An impossible date is a validation error at its DTM."""
    with pytest.raises(PayloadError) as info:
        _decode(DESADV.replace("DTM+11:20260302", "DTM+11:20261340"), DocKind.SHIP_NOTICE)
    assert info.value.where == "segment 5 (DTM)"


def test_spooled_body_is_streamed(tmp_path: Path) -> None:
    """A body spooled to a file decodes like the same bytes in memory."""
    path = tmp_path / "inv.edi"
    path.write_bytes(INVRPT.encode())
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, supplier_id="SUP")
    assert list(decode(Body(path=path), ctx)) == _decode(INVRPT, DocKind.INVENTORY_SNAPSHOT)[0]


def test_empty_and_non_edifact_bodies_are_payload_errors() -> None:
    """Nothing, or something else, gives a typed error rather than a crash."""
    for data in (b"", b"   \r\n", b"{}", b"ISA*00*"):
        with pytest.raises(PayloadError):
            _decode(data, DocKind.SHIP_NOTICE)


# -- INVRPT versions (docs/contract.md §6) ---------------------------------------------------------


def _invrpt(reference: str = "IC44", issued: str = "DTM+137:202603030645:203'") -> str:
    return INVRPT.replace("IC44", reference).replace("DTM+137:20260303:102'", issued)


def _versions(text: str, max_items: int = 10_000) -> set[tuple[str | None, str | None]]:
    docs, _ = _decode(text, DocKind.INVENTORY_SNAPSHOT, max_items=max_items)
    return {version_of(d) for d in docs}


def test_invrpt_version_is_dtm_137_and_unb05_on_every_part_and_warehouse() -> None:
    """DTM 137 with a time is issued_at, UNB05 the control number, alike on all parts."""
    assert _versions(_invrpt(), max_items=1) == {("2026-03-03T06:45:00Z", "IC44")}


def test_invrpt_date_only_137_is_no_issued_at_but_is_kept_in_codes() -> None:
    """A document date without a time does not order two reports of one day (as DESADV)."""
    docs, _ = _decode(INVRPT, DocKind.INVENTORY_SNAPSHOT)
    snap = docs[0]
    assert isinstance(snap, InventorySnapshot)
    assert (snap.issued_at, snap.control_number) == (None, "IC44")
    assert snap.codes["DTM+137"] == "2026-03-03"


def test_invrpt_correction_orders_after_the_original() -> None:
    """A later DTM 137 or a higher numeric UNB05 is a strictly newer version."""
    (original,) = _versions(_invrpt("9"))
    (later_time,) = _versions(_invrpt("9", "DTM+137:202603030646:203'"))
    (higher_reference,) = _versions(_invrpt("10"))
    assert version_key(later_time) > version_key(original)
    assert version_key(higher_reference) > version_key(original)
