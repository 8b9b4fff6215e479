"""Real X12 samples (read in place from shared/samples) decode to what a person reads off them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.x12.documents import decode
from supplyfeed._models import DocKind, Document, InventorySnapshot, PoAck, ShipNotice

_KINDS = {"855": DocKind.PO_ACK, "856": DocKind.SHIP_NOTICE, "846": DocKind.INVENTORY_SNAPSHOT}


def load(samples_dir: Path, name: str, policy: str = "strict") -> tuple[list[Document], list[str]]:
    ctx = DecodeContext(kind=_KINDS[name[4:7]], envelope_policy=policy)  # type: ignore[arg-type]
    docs = list(decode(Body.from_bytes((samples_dir / name).read_bytes()), ctx))
    return docs, ctx.warnings


def acks(docs: list[Document]) -> list[PoAck]:
    return [d for d in docs if isinstance(d, PoAck)]


def notices(docs: list[Document]) -> list[ShipNotice]:
    return [d for d in docs if isinstance(d, ShipNotice)]


def test_every_x12_sample_is_covered(samples_dir: Path) -> None:
    """Each x12_* sample has its test below (a new sample must get one)."""
    names = {p.name for p in samples_dir.glob("x12_*")}
    covered = {
        "x12_846_oopfactory_bom_brace-term.txt", "x12_855_node-x12.edi",
        "x12_855_oopfactory_two-transactions_indented.txt",
        "x12_855_stupidedi_ack-minor-changes_crlf.edi",
        "x12_855_stupidedi_brace-component-sep.edi", "x12_856_gozer_newline-terminated.txt",
        "x12_856_node-x12_00406_repetition-sep.edi",
        "x12_856_oopfactory_bom_tilde-elem_star-term.txt",
        "x12_856_oopfactory_nel-as-utf8-ellipsis-term.txt",
        "x12_856_stupidedi_002001_short-isa_bang-terminator.edi",
        "x12_856_stupidedi_dollar-term_mixed-tilde.edi",
    }  # fmt: skip
    assert names <= covered


def test_855_node_x12_ack_lines(samples_dir: Path) -> None:
    """node-x12 855: four PO1/ACK lines, IA accepted and IR rejected, ISBNs as SKUs."""
    docs, _ = load(samples_dir, "x12_855_node-x12.edi")
    (ack,) = acks(docs)
    assert (ack.po_number, ack.ack_number, ack.status) == ("POTEST1112", "POTEST1112", "accepted")
    assert ack.ack_date == dt.date(2020, 10, 15)
    assert [(ln.line_number, ln.sku, ln.ordered_qty, ln.acked_qty, ln.line_status)
            for ln in ack.lines] == [
        ("1", "9780446360265", 3, 3, "accepted"),
        ("2", "9780767928427", 2, 0, "rejected"),
        ("3", "9780099599531", 1, 0, "rejected"),
        ("4", "9780446360272", 2, 2, "accepted"),
    ]  # fmt: skip
    assert ack.lines[1].unit_price == 15.99


def test_855_two_transactions_indented(samples_dir: Path) -> None:
    """OopFactory 855: two ST in one GS, indentation and CRLF ignored."""
    docs, _ = load(samples_dir, "x12_855_oopfactory_two-transactions_indented.txt")
    first, second = acks(docs)
    assert (first.po_number, first.ack_number) == ("7542", "83517234")
    assert [(ln.line_number, ln.sku, ln.unit_price) for ln in first.lines] == [
        ("100", "4620451B", 7700.0), ("200", "1528451M", 23500.0),
    ]  # fmt: skip
    assert first.lines[0].promised_date == dt.date(2011, 10, 7)  # header DTM*017
    assert (second.po_number, len(second.lines)) == ("99035", 1)


def test_855_minor_changes_on_one_line(samples_dir: Path) -> None:
    """stupidedi X358 855: BAK02 AC; IP/DR/IQ/IS on line 1, IA line 2, IR line 3."""
    docs, _ = load(samples_dir, "x12_855_stupidedi_ack-minor-changes_crlf.edi")
    (ack,) = acks(docs)
    assert (ack.po_number, ack.status) == ("XX-1234", "accepted_with_changes")
    one, two, three = ack.lines
    assert one.codes["ACK01"] == "IP,DR,IQ,IS"
    assert (one.line_status, one.acked_qty, one.unit_price) == ("accepted_with_changes", 20, 9.0)
    assert one.promised_date == dt.date(2017, 5, 20)
    assert (two.sku, two.line_status) == ("LL-5678", "accepted")
    assert (three.sku, three.line_status, three.ordered_qty) == ("AB123-2", "rejected", 48)


def test_855_brace_component_separator(samples_dir: Path) -> None:
    """ISA12 00400 with ISA16 '{': BAK08 338093, one PO1 of 72 EA at 47.34."""
    docs, _ = load(samples_dir, "x12_855_stupidedi_brace-component-sep.edi")
    (ack,) = acks(docs)
    assert (ack.po_number, ack.ack_number, ack.ack_date) == (
        "1D711419", "338093", dt.date(2017, 4, 25),
    )  # fmt: skip
    (line,) = ack.lines
    assert (line.sku, line.ordered_qty, line.uom, line.unit_price) == (
        "C000900237",
        72,
        "EA",
        47.34,
    )


def _edi_source_asn(asn: ShipNotice) -> None:
    assert (asn.asn_number, asn.ship_date) == ("829716", dt.date(2011, 12, 6))
    assert (asn.carrier, asn.tracking_number, asn.ship_from) == (
        "XXXX",
        "5787970539",
        "1 EDI SOURCE",
    )
    assert [(ln.po_number, ln.sku, ln.shipped_qty, ln.uom) for ln in asn.lines] == [
        ("99999817", "87787D", 24, "EA"), ("99999817", "99887D", 6, "EA"),
    ]  # fmt: skip


def test_856_repetition_separator_does_not_split_data(samples_dir: Path) -> None:
    """00406 with ISA11 '-': the '-' in REF*BM 999999-001 is data, and the ASN reads fully."""
    docs, warnings = load(samples_dir, "x12_856_node-x12_00406_repetition-sep.edi")
    (asn,) = notices(docs)
    _edi_source_asn(asn)
    assert warnings == []


def test_856_newline_terminated_with_bad_iea(samples_dir: Path) -> None:
    """gozer: LF terminator, no final terminator; ISA13 != IEA02 fails strict, warns under warn."""
    with pytest.raises(PayloadError) as info:
        load(samples_dir, "x12_856_gozer_newline-terminated.txt")
    assert info.value.kind == "envelope"
    assert info.value.where == "segment 35 (IEA)"
    docs, warnings = load(samples_dir, "x12_856_gozer_newline-terminated.txt", "warn")
    (asn,) = notices(docs)
    _edi_source_asn(asn)
    assert len(warnings) == 1
    assert "ISA13" in warnings[0]


def test_856_bom_with_swapped_delimiters(samples_dir: Path) -> None:
    """OopFactory: BOM, '~' elements and '*' terminator; S/O/I with PRF inherited."""
    docs, _ = load(samples_dir, "x12_856_oopfactory_bom_tilde-elem_star-term.txt")
    (asn,) = notices(docs)
    assert (asn.asn_number, asn.expected_delivery) == ("123456", dt.date(2001, 4, 22))
    assert (asn.ship_from, asn.ship_to) == ("ACME", "ESSAR Steel Algoma Inc.")
    assert [(ln.po_number, ln.po_line_number, ln.sku, ln.shipped_qty, ln.uom)
            for ln in asn.lines] == [
        ("123456", "001", "1234-123456", 16, "PC"),
        ("123456", "002", "1234-654321", 23, "LB"),
        ("123456", "004", "1234-223456", 16, "PC"),
    ]  # fmt: skip


def test_856_ellipsis_terminator(samples_dir: Path) -> None:
    """OopFactory: '…' (3 UTF-8 bytes) terminator; S/I with PRF at item level."""
    docs, _ = load(samples_dir, "x12_856_oopfactory_nel-as-utf8-ellipsis-term.txt")
    (asn,) = notices(docs)
    assert (asn.asn_number, asn.carrier, asn.tracking_number) == ("146940", "AVRT", "0123456789")
    assert asn.ship_to == "ZFIT"
    assert [(ln.sku, ln.shipped_qty) for ln in asn.lines] == [
        ("000 260 056 524", 1596), ("000 260 120 524", 1152), ("000 260 121 524", 1440),
    ]  # fmt: skip
    assert {ln.po_number for ln in asn.lines} == {"5500005194"}


def test_856_short_isa_tare_item_pack(samples_dir: Path) -> None:
    """stupidedi 00200: short ISA, '!' terminator, S/T/I/P packs with REF*LS, two ST."""
    docs, _ = load(samples_dir, "x12_856_stupidedi_002001_short-isa_bang-terminator.edi")
    first, second = notices(docs)
    assert (first.asn_number, first.ship_date) == ("35100", dt.date(2007, 1, 1))
    assert [(ln.sku, ln.shipped_qty, ln.lot) for ln in first.lines] == [
        ("7389141G01", 1000, "S125,S126,S127,S128"),
        ("6500012G00", 76, "S3489"), ("6500012G00", 100, "S2387"),
        ("7340912G00", 100, "S5666"),
        ("7450013G00", 100, "S5789"), ("7450013G00", 56, "S5790"),
    ]  # fmt: skip
    assert sum(ln.shipped_qty or 0 for ln in first.lines) == 1432  # CTT02 hash total
    assert [(ln.sku, ln.shipped_qty) for ln in second.lines] == [
        ("3104982G00", 234), ("8930212G01", 25),
    ]  # fmt: skip


def test_856_mixed_terminators_are_rejected(samples_dir: Path) -> None:
    """Segments ended with '~' in a '$' file merge: rejected, naming the merged segment."""
    for policy in ("strict", "warn"):
        with pytest.raises(PayloadError) as info:
            load(samples_dir, "x12_856_stupidedi_dollar-term_mixed-tilde.edi", policy)
        assert info.value.where == "segment 13 (N1)"


def test_846_sanmina_inventory(samples_dir: Path) -> None:
    """OopFactory 846: '}' terminator, blank ISA11; QTY 34 = 5250 noncommitted on shelf."""
    docs, _ = load(samples_dir, "x12_846_oopfactory_bom_brace-term.txt")
    (snap,) = [d for d in docs if isinstance(d, InventorySnapshot)]
    assert snap.warehouse_id == "SAN003"
    assert snap.as_of == dt.datetime(2004, 8, 11, 23, 0, tzinfo=dt.UTC)
    (item,) = snap.items
    assert (item.sku, item.on_hand, item.available, item.uom) == ("46L5055", 5250, 5250, "EA")
    assert (item.codes["qty_QH"], item.codes["qty_QB"], item.codes["qty_87"]) == ("100", "50", "75")
