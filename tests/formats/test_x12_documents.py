"""X12 documents: envelope checks and the 855 / 856 / 846 mappings, on fixtures written here."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.x12.documents import decode
from supplyfeed._models import (
    DocKind,
    Document,
    InventorySnapshot,
    PoAck,
    ShipNotice,
)
from supplyfeed._sink.schema import version_key, version_of

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*260101*1200*U*00401*{ctrl}*0*P*>"
)


def interchange(*groups: list[tuple[str, list[str]]], ctrl: str = "000000007") -> bytes:
    """An interchange with correct counts: groups of (set id, body segments) sets."""
    out = [ISA.format(ctrl=ctrl)]
    for g, sets in enumerate(groups, 1):
        out.append(f"GS*XX*SENDER*RECEIVER*20260102*0930*{g}*X*004010")
        for n, (set_id, body) in enumerate(sets, 1):
            out += [f"ST*{set_id}*{n:04d}", *body, f"SE*{len(body) + 2}*{n:04d}"]
        out.append(f"GE*{len(sets)}*{g}")
    out.append(f"IEA*{len(groups)}*{ctrl}")
    return ("~\n".join(out) + "~\n").encode()


def run(data: bytes, kind: DocKind, policy: str = "strict") -> tuple[list[Document], DecodeContext]:
    ctx = DecodeContext(kind=kind, supplier_id="SUP9", envelope_policy=policy)  # type: ignore[arg-type]
    return list(decode(Body.from_bytes(data), ctx)), ctx


ACK_855 = [
    "BAK*00*AC*PO-77*20260101****SO-9*20260102",
    "DTM*017*20260120",
    "PO1*1*10*EA*2.5**SK*SKU-1*VP*V-1",
    "ACK*IQ*8*EA*068*20260115",
    "PO1*2*4*CS*10**VP*V-2",
    "ACK*IR*0*CS",
    "PO1*3*1*EA*7**BP*B-3",
]


def test_855_maps_header_lines_and_ack_statuses() -> None:
    """BAK, PO1 and ACK become a PoAck with normalized statuses and raw codes kept."""
    (ack,), _ = run(interchange([("855", ACK_855)]), DocKind.PO_ACK)
    assert isinstance(ack, PoAck)
    assert (ack.po_number, ack.ack_number, ack.status) == ("PO-77", "SO-9", "accepted_with_changes")
    assert ack.ack_date == dt.date(2026, 1, 2)
    assert ack.issued_at == dt.datetime(2026, 1, 2, 9, 30, tzinfo=dt.UTC)
    assert ack.supplier_id == "SUP9"
    assert ack.control_number == "000000007000000001"  # ISA13 then ST02
    first, second, third = ack.lines
    assert (first.sku, first.ordered_qty, first.acked_qty, first.unit_price) == (
        "SKU-1",
        10,
        8,
        2.5,
    )
    assert first.line_status == "accepted_with_changes"
    assert first.codes["ACK01"] == "IQ"
    assert first.promised_date == dt.date(2026, 1, 15)
    assert (second.sku, second.line_status, second.acked_qty) == ("V-2", "rejected", 0)
    assert second.promised_date == dt.date(2026, 1, 20)  # the header DTM*017 applies
    assert third.line_status is None
    assert third.sku == "B-3"


def test_855_without_bak08_uses_the_po_number() -> None:
    """No BAK08: the PO number stands in as the ack number, and the fallback is recorded."""
    (ack,), _ = run(interchange([("855", ["BAK*00*AD*PO-1*20260101"])]), DocKind.PO_ACK)
    assert isinstance(ack, PoAck)
    assert ack.ack_number == "PO-1"
    assert ack.codes["ack_number"] == "BAK03"
    assert ack.status == "accepted"
    assert ack.ack_date == dt.date(2026, 1, 1)


def test_several_groups_and_sets_in_one_interchange() -> None:
    """Two GS with one and two ST give three documents in order."""
    one = [("855", ["BAK*00*AD*A*20260101"])]
    two = [("855", ["BAK*00*RD*B*20260101"]), ("855", ["BAK*00*AK*C*20260101"])]
    docs, _ = run(interchange(one, two), DocKind.PO_ACK)
    assert [(d.po_number, d.status) for d in docs if isinstance(d, PoAck)] == [
        ("A", "accepted"), ("B", "rejected"), ("C", "accepted"),
    ]  # fmt: skip


def test_se_count_mismatch_strict_names_the_se_segment() -> None:
    """A wrong SE01 fails under 'strict', naming SE and its position."""
    data = interchange([("855", ["BAK*00*AD*A*20260101"])]).replace(b"SE*3*", b"SE*9*")
    with pytest.raises(PayloadError) as info:
        run(data, DocKind.PO_ACK)
    assert info.value.kind == "envelope"
    assert info.value.where == "segment 5 (SE)"


def test_envelope_mismatches_warn_under_warn_policy() -> None:
    """Under 'warn', SE/GE/IEA mismatches are recorded and the documents still decode."""
    data = interchange([("855", ["BAK*00*AD*A*20260101"])])
    data = data.replace(b"SE*3*0001", b"SE*3*0002").replace(b"GE*1*1", b"GE*2*1")
    data = data.replace(b"IEA*1*000000007", b"IEA*1*000000008")
    docs, ctx = run(data, DocKind.PO_ACK, "warn")
    assert len(docs) == 1
    assert len(ctx.warnings) == 3
    assert any("IEA02" in w and "segment 7 (IEA)" in w for w in ctx.warnings)


@pytest.mark.parametrize(
    ("cut", "where"),
    [(b"SE*3*0001~\n", "segment 5 (GE)"), (b"~\nSE*3*0001~\nGE*1*1~\nIEA*1*000000007~\n", "")],
)
def test_missing_se_is_always_an_error(cut: bytes, where: str) -> None:
    """A transaction set without SE fails even under 'warn' (truncated or broken)."""
    data = interchange([("855", ["BAK*00*AD*A*20260101"])]).replace(cut, b"")
    with pytest.raises(PayloadError) as info:
        run(data, DocKind.PO_ACK, "warn")
    assert info.value.kind == "envelope"
    if where:
        assert info.value.where == where


def test_kind_mismatch_is_reported() -> None:
    """An 856 on a po_ack feed is a kind_mismatch error naming the ST."""
    data = interchange([("856", ["BSN*00*A*20260101*1200"])])
    with pytest.raises(PayloadError) as info:
        run(data, DocKind.PO_ACK)
    assert info.value.kind == "kind_mismatch"
    assert info.value.where == "segment 3 (ST)"


def test_bad_number_names_segment_and_element() -> None:
    """A non-numeric PO102 is a validation error at that PO1."""
    data = interchange([("855", ["BAK*00*AD*A*20260101", "PO1*1*ten*EA"])])
    with pytest.raises(PayloadError, match="PO102") as info:
        run(data, DocKind.PO_ACK)
    assert info.value.where == "segment 5 (PO1)"
    assert info.value.kind == "validation"


# -- 856 -------------------------------------------------------------------------------

ASN_HEADER = [
    "BSN*00*ASN-1*20260105*083000*0001",
    "DTM*011*20260105",
    "DTM*017*20260108",
]


def test_856_sopi_pack_sscc_is_inherited_by_items() -> None:
    """S/O/P/I: items take the PO from the order and the SSCC from their pack."""
    body = [*ASN_HEADER,
            "HL*1**S", "TD5**2*SCAC", "REF*BM*BOL-1", "REF*CN*PRO-1",
            "N1*SF*Plant A*92*PA", "N1*ST*DC East",
            "HL*2*1*O", "PRF*PO-5",
            "HL*3*2*P", "MAN*GM*00012345600000000017",
            "HL*4*3*I", "LIN*10*SK*SKU-A", "SN1**12*EA", "REF*LT*LOT-A",
            "HL*5*3*I", "LIN*20*SK*SKU-B", "SN1**3*CS"]  # fmt: skip
    (asn,), _ = run(interchange([("856", body)]), DocKind.SHIP_NOTICE)
    assert isinstance(asn, ShipNotice)
    assert asn.asn_number == "ASN-1"
    assert asn.issued_at == dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC)
    assert (asn.ship_date, asn.expected_delivery) == (dt.date(2026, 1, 5), dt.date(2026, 1, 8))
    assert (asn.carrier, asn.tracking_number) == ("SCAC", "PRO-1")
    assert (asn.ship_from, asn.ship_to) == ("Plant A", "DC East")
    a, b = asn.lines
    assert (a.line_seq, a.sku, a.shipped_qty, a.uom, a.lot) == (1, "SKU-A", 12, "EA", "LOT-A")
    assert a.po_number == b.po_number == "PO-5"
    assert a.container_id == b.container_id == "00012345600000000017"
    assert (b.po_line_number, b.shipped_qty, b.uom, b.lot) == ("20", 3, "CS", None)


def test_856_hl_tree_follows_parents_not_file_order() -> None:
    """Items listed before their order still get that order's PO number."""
    body = [*ASN_HEADER,
            "HL*4*3*I", "LIN*1*SK*SKU-2", "SN1**2*EA",
            "HL*1**S",
            "HL*3*1*O", "PRF*PO-B",
            "HL*5*2*I", "LIN*1*SK*SKU-1", "SN1**1*EA",
            "HL*2*1*O", "PRF*PO-A"]  # fmt: skip
    (asn,), _ = run(interchange([("856", body)]), DocKind.SHIP_NOTICE)
    assert isinstance(asn, ShipNotice)
    # depth-first over the tree: S → O(3) → I(4), then O(2) → I(5)
    assert [(ln.line_seq, ln.sku, ln.po_number) for ln in asn.lines] == [
        (1, "SKU-2", "PO-B"), (2, "SKU-1", "PO-A"),
    ]  # fmt: skip


def test_856_stip_packs_split_their_item() -> None:
    """S/T/I/P: each pack under an item is a line with its own lot and the item's SKU."""
    body = [*ASN_HEADER,
            "HL*1**S",
            "HL*2*1*T", "MAN*GM*TARE-SSCC",
            "HL*3*2*I", "LIN**BP*PART-1", "SN1**30*PC",
            "HL*4*3*P", "SN1**10*PC", "REF*LS*S-1",
            "HL*5*3*P", "SN1**20*PC", "REF*LS*S-2",
            "HL*6*2*I", "LIN**BP*PART-2", "SN1**5*PC"]  # fmt: skip
    (asn,), _ = run(interchange([("856", body)]), DocKind.SHIP_NOTICE)
    assert isinstance(asn, ShipNotice)
    assert [(ln.sku, ln.shipped_qty, ln.lot, ln.container_id) for ln in asn.lines] == [
        ("PART-1", 10, "S-1", "TARE-SSCC"),
        ("PART-1", 20, "S-2", "TARE-SSCC"),
        ("PART-2", 5, None, "TARE-SSCC"),
    ]


def test_856_header_only_notice_is_allowed() -> None:
    """A notice without HL loops has a header and no lines."""
    (asn,), _ = run(interchange([("856", ASN_HEADER)]), DocKind.SHIP_NOTICE)
    assert isinstance(asn, ShipNotice)
    assert asn.lines == []
    assert asn.asn_number == "ASN-1"


@pytest.mark.parametrize(
    ("hls", "message"),
    [(["HL*1**S", "HL*2*9*I"], "does not exist"),
     (["HL*1**S", "HL*1*1*I"], "duplicate"),
     (["HL*1*2*S", "HL*2*1*I"], "cycle")],
)  # fmt: skip
def test_856_broken_hl_tree_is_an_error(hls: list[str], message: str) -> None:
    """Unknown parents, duplicate ids and cycles name the HL segment."""
    with pytest.raises(PayloadError, match=message) as info:
        run(interchange([("856", [*ASN_HEADER, *hls])]), DocKind.SHIP_NOTICE)
    assert info.value.where.endswith("(HL)")


# -- 846 -------------------------------------------------------------------------------

INV_HEADER = ["BIA*00*SI*R1*20260103*0700", "DTM*007*20260103*0745*GM", "N1*WH*Main*92*W01"]


def test_846_quantities_by_qualifier() -> None:
    """QTY 17 is on hand, 33 available; other qualifiers and UIT units are kept."""
    body = [*INV_HEADER,
            "LIN**SK*SKU-1*UP*012345678905", "QTY*17*12", "UIT*CS", "QTY*33*10*CS", "QTY*QH*2",
            "LIN**UP*0999", "QTY*34*7*EA",
            "LIN**SK*SKU-3", "QTY*87*4"]  # fmt: skip
    (snap,), ctx = run(interchange([("846", body)]), DocKind.INVENTORY_SNAPSHOT)
    assert isinstance(snap, InventorySnapshot)
    assert snap.warehouse_id == "W01"
    assert snap.supplier_id == "SUP9"
    assert snap.as_of == dt.datetime(2026, 1, 3, 7, 45, tzinfo=dt.UTC)
    one, two = snap.items
    assert (one.sku, one.on_hand, one.available, one.uom) == ("SKU-1", 12, 10, "CS")
    assert one.codes["qty_QH"] == "2"
    assert (two.sku, two.on_hand, two.available, two.codes["on_hand"]) == ("0999", 7, 7, "34")
    assert any("SKU-3" in w for w in ctx.warnings)  # no stock quantity: skipped, said so


def test_846_sdq_splits_over_warehouses() -> None:
    """SDQ gives one snapshot per location, replacing the QTY total it splits."""
    body = [*INV_HEADER,
            "LIN**SK*SKU-1", "QTY*17*30", "SDQ*EA*92*W02*10*W03*20",
            "LIN**SK*SKU-2", "QTY*17*5"]  # fmt: skip
    docs, _ = run(interchange([("846", body)]), DocKind.INVENTORY_SNAPSHOT)
    got = {
        (d.warehouse_id, i.sku, i.on_hand)
        for d in docs if isinstance(d, InventorySnapshot) for i in d.items
    }  # fmt: skip
    assert got == {("W02", "SKU-1", 10), ("W03", "SKU-1", 20), ("W01", "SKU-2", 5)}


def test_846_streams_in_parts_and_from_a_spooled_file(tmp_path: Path) -> None:
    """A large report comes in parts of at most max_items_per_part, the same from a file."""
    body = [*INV_HEADER] + [s for n in range(25) for s in (f"LIN**SK*S{n}", f"QTY*17*{n}")]
    data = interchange([("846", body)])
    path = tmp_path / "inv.edi"
    path.write_bytes(data)
    for payload in (Body.from_bytes(data), Body(path=path)):
        ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, max_items_per_part=10)
        parts = list(decode(payload, ctx))
        assert [len(p.items) for p in parts if isinstance(p, InventorySnapshot)] == [10, 10, 5]
        assert {p.warehouse_id for p in parts if isinstance(p, InventorySnapshot)} == {"W01"}


def test_846_without_a_date_is_an_error() -> None:
    """The snapshot instant is part of the key: no DTM and no BIA04 is a validation error."""
    data = interchange([("846", ["BIA*00*SI*R1", "LIN**SK*A", "QTY*17*1"])])
    with pytest.raises(PayloadError, match="report date"):
        run(data, DocKind.INVENTORY_SNAPSHOT)


def test_unexpected_errors_surface_as_payload_errors() -> None:
    """Only PayloadError leaves the decoder, even for a stream that fails mid-way."""

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("disk gone")

    class BrokenBody(Body):
        def open(self) -> Broken:
            return Broken()

        @property
        def spooled(self) -> bool:
            return True

    with pytest.raises(PayloadError, match="disk gone"):
        list(decode(BrokenBody(data=b"x"), DecodeContext(kind=DocKind.PO_ACK)))


# -- 846 versions (docs/contract.md §6) ------------------------------------------------------------


def _snapshots(data: bytes, max_items: int = 1000) -> list[InventorySnapshot]:
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, max_items_per_part=max_items)
    docs = list(decode(Body.from_bytes(data), ctx))
    assert all(isinstance(d, InventorySnapshot) for d in docs)
    return [d for d in docs if isinstance(d, InventorySnapshot)]


def _846_version(
    ctrl: str, bia: str = "BIA*00*SI*R1*20260103*0700"
) -> tuple[str | None, str | None]:
    body = [bia, "DTM*007*20260103*0745*GM", "N1*WH*Main*92*W01", "LIN**SK*A", "QTY*17*1"]
    (snap,) = _snapshots(interchange([("846", body)], ctrl=ctrl))
    return version_of(snap)


def test_846_version_is_bia_date_time_and_isa13_then_st02() -> None:
    """issued_at is BIA04/05 (not the DTM as_of); control_number is ISA13 + ST02, 9 digits each."""
    body = [*INV_HEADER, "LIN**SK*A", "QTY*17*1"]
    data = interchange([("846", body), ("846", body)], ctrl="000000123")
    first, second = _snapshots(data)
    assert first.issued_at == dt.datetime(2026, 1, 3, 7, 0, tzinfo=dt.UTC)
    assert first.as_of == dt.datetime(2026, 1, 3, 7, 45, tzinfo=dt.UTC)
    assert first.control_number == "000000123000000001"
    assert second.control_number == "000000123000000002"


def test_846_correction_orders_after_the_original() -> None:
    """A later BIA, a higher ISA13 (even with a lower ST02) or a higher ST02 is a newer version."""
    original = version_key(_846_version("000000009"))
    later_bia = _846_version("000000009", bia="BIA*00*SI*R1*20260103*0701")
    assert version_key(later_bia) > original
    assert version_key(_846_version("000000010")) > original  # 10 > 9: compared as numbers
    one = interchange([("846", [*INV_HEADER, "LIN**SK*A", "QTY*17*1"])], ctrl="000000010")
    two = interchange(
        [("846", [*INV_HEADER, "LIN**SK*A", "QTY*17*1"])] * 2, ctrl="000000009"
    )  # ISA13 9, ST02 0002: older than ISA13 10 with ST02 0001
    assert version_key(version_of(_snapshots(one)[0])) > version_key(version_of(_snapshots(two)[1]))


def test_846_control_numbers_that_are_not_digits_join_as_text() -> None:
    """An alphanumeric ST02 is kept beside ISA13 rather than dropped (compared as text)."""
    body = [*INV_HEADER, "LIN**SK*A", "QTY*17*1"]
    data = interchange([("846", body)]).replace(b"*0001~", b"*A1B2~")  # ST02 and SE02
    (snap,) = _snapshots(data)
    assert snap.control_number == "000000007/A1B2"


def test_846_every_part_and_location_carries_the_version(tmp_path: Path) -> None:
    """Streamed parts (bulk text path included), SDQ locations, a spooled file: one version."""
    items = [s for n in range(40) for s in (f"LIN**SK*S{n}", f"QTY*17*{n}*EA", f"QTY*33*{n}*EA")]
    split = ["LIN**SK*X", "QTY*17*30", "SDQ*EA*92*W02*10*W03*20"]
    data = interchange([("846", [*INV_HEADER, *items, *split])], ctrl="000000042")
    path = tmp_path / "inv.edi"
    path.write_bytes(data)
    for payload in (Body.from_bytes(data), Body(path=path)):
        ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, max_items_per_part=7)
        parts = [d for d in decode(payload, ctx) if isinstance(d, InventorySnapshot)]
        assert len(parts) > 3
        assert {p.warehouse_id for p in parts} == {"W01", "W02", "W03"}
        assert {version_of(p) for p in parts} == {("2026-01-03T07:00:00Z", "000000042000000001")}


@pytest.mark.parametrize(("set_id", "body", "kind"), [
    ("855", ACK_855, DocKind.PO_ACK), ("856", ASN_HEADER, DocKind.SHIP_NOTICE),
])  # fmt: skip
def test_855_856_correction_in_a_later_interchange_is_newer(
    set_id: str, body: list[str], kind: DocKind
) -> None:
    """ISA13 comes before ST02: the first set of interchange 10 is newer than the second of 9."""
    earlier, _ = run(interchange([(set_id, body), (set_id, body)], ctrl="000000009"), kind)
    (later,), _ = run(interchange([(set_id, body)], ctrl="000000010"), kind)
    assert earlier[1].control_number == "000000009000000002"
    assert later.control_number == "000000010000000001"
    assert version_key(version_of(later)) > version_key(version_of(earlier[1]))
