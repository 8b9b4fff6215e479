"""Real EDIFACT interchanges from public repositories, read in place from the samples dir.

The expected values below were read off the files by hand.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.edifact.documents import decode
from supplyfeed._formats.edifact.tokenizer import SegmentReader
from supplyfeed._models import DocKind, Document, PoAck, ShipNotice


def _decode(path: Path, kind: DocKind) -> tuple[list[Document], DecodeContext]:
    ctx = DecodeContext(kind=kind, supplier_id="S")
    return list(decode(Body.from_bytes(path.read_bytes()), ctx)), ctx


def _asns(docs: list[Document]) -> list[ShipNotice]:
    assert all(isinstance(d, ShipNotice) for d in docs)
    return [d for d in docs if isinstance(d, ShipNotice)]


def test_desadv_without_una(samples_dir: Path) -> None:
    """php-edifact's book-trade DESADV: default delimiters, per-line RFF+ON and RFF+LI."""
    docs, ctx = _decode(
        samples_dir / "edifact_desadv_d96a_no-una_php-edifact.edi", DocKind.SHIP_NOTICE
    )
    (asn,) = _asns(docs)
    assert asn.asn_number == "Y02197250"
    assert asn.ship_date == dt.date(2016, 7, 26)
    assert asn.ship_from == "1694901"
    assert asn.control_number == "1"
    assert [(ln.sku, ln.shipped_qty, ln.po_number) for ln in asn.lines] == [
        ("9780738507330", 1, "6877871"),
        ("9781568361871", 1, "6905456"),
    ]
    assert asn.lines[1].po_line_number == "6905456"
    assert ctx.warnings == []


def test_eancom_desadv_with_packing_hierarchy(samples_dir: Path) -> None:
    """bots' three-message DESADV: SSCC from GIN+BJ, batch from GIN+BX, header RFF+ON."""
    docs, ctx = _decode(
        samples_dir / "edifact_desadv_eancom_cps-pac-gin_bots.edi", DocKind.SHIP_NOTICE
    )
    first, second, third = _asns(docs)
    assert first.asn_number == "1923"  # BGM01 left empty by the sender
    assert first.issued_at == dt.datetime(2008, 9, 13, 0, 0, tzinfo=dt.UTC)
    assert first.expected_delivery == dt.date(2008, 9, 13)
    assert (first.ship_from, first.ship_to) == ("5555555555555", "8712345003203")
    assert [(ln.sku, ln.shipped_qty, ln.po_number) for ln in first.lines] == [
        ("8717755680019", 48, "ref1234"),
        ("8717755620071", 192, "ref1234"),
    ]
    assert second.asn_number == "DOCNUM"
    assert second.ship_date == dt.date(1999, 12, 31)
    assert second.ship_from == "8712345678906"  # NAD+SF
    assert len(second.lines) == 4
    assert {ln.container_id for ln in second.lines} == {"354123450000000014"}
    assert {ln.lot for ln in second.lines} == {"BATCHNUMBERPAC"}
    assert {ln.po_number for ln in second.lines} == {"BYORDNUM"}
    assert [ln.line_seq for ln in second.lines] == [1, 2, 3, 4]
    assert third.lines[0].lot == "BATCHNUMBER"  # PIA ...:NB when there is no GIN+BX
    assert third.lines[0].container_id is None
    assert ctx.warnings == []


def test_one_line_ordrsp(samples_dir: Path) -> None:
    """Koha's single-line ORDRSP: BGM function 4, action codes 24/2, QTY 21/83, PRI AAE."""
    docs, ctx = _decode(
        samples_dir / "edifact_ordrsp_d96a_eancom_single-line_koha.CEA", DocKind.PO_ACK
    )
    (ack,) = docs
    assert isinstance(ack, PoAck)
    assert (ack.ack_number, ack.status, ack.ack_date) == (
        "R967634",
        "accepted_with_changes",
        dt.date(1997, 10, 28),
    )
    assert ack.po_number == ""  # the file has no RFF+ON: kept, with a warning
    assert any("RFF+ON" in w for w in ctx.warnings)
    first, second, third = ack.lines
    assert (first.sku, first.ordered_qty, first.acked_qty) == ("0316907235", 2, 2)
    assert (first.line_status, first.unit_price) == ("backordered", 15.99)
    assert first.promised_date == dt.date(1997, 11, 20)
    assert first.codes["RFF+LI"] == "P28837"
    assert (second.sku, second.line_status, second.ordered_qty) == ("0856674427", "deleted", 1)
    assert (third.sku, third.line_status, third.unit_price) == (
        "0870701436",
        "accepted_with_changes",
        25.0,
    )
    assert third.codes["PIA3:IB"] == "0870701428"


def test_release_character_sample_tokenizes_like_pydifact(samples_dir: Path) -> None:
    """php-edifact's release-character torture test: the IFT values after unescaping."""
    reader = SegmentReader((samples_dir / "edifact_release-character_php-edifact.edi").read_bytes())
    ift = [s.elements[1:] for s in reader if s.tag == "IFT"]
    assert ift[2] == [["NO MORE FLIGHTS 2?"]]
    assert ift[3] == [["NO MORE ' FLIGHTS 3"]]
    assert ift[4] == [["NO MORE ? FLIGHTS 3"]]
    assert ift[5] == [["NO MORE ?' FLIGHTS 3"]]
    assert ift[6] == [["FIELD 1"], ["FIELD 2"]]
    assert ift[7] == [["FIELD 1?"], ["FIELD 2"]]
    assert ift[8] == [["FIELD 1?+FIELD 2"]]
    assert ift[9] == [["FIELD 1.1", "FIELD 1.2"]]
    assert ift[10] == [["FIELD 1.1?", "FIELD 1.2"]]
    assert ift[11] == [["FIELD 1.1?:FIELD 1.2"]]


@pytest.mark.parametrize("kind", list(DocKind))
def test_release_character_sample_is_a_typed_kind_mismatch(
    samples_dir: Path, kind: DocKind
) -> None:
    """A PAORES airline message is no supply-chain document: a typed error, no crash."""
    with pytest.raises(PayloadError) as info:
        _decode(samples_dir / "edifact_release-character_php-edifact.edi", kind)
    assert (info.value.kind, info.value.where) == ("kind_mismatch", "segment 3 (UNH)")


def test_every_edifact_sample_is_covered(samples_dir: Path) -> None:
    """New edifact_* samples must get a test here."""
    assert sorted(p.name for p in samples_dir.glob("edifact_*")) == [
        "edifact_desadv_d96a_no-una_php-edifact.edi",
        "edifact_desadv_eancom_cps-pac-gin_bots.edi",
        "edifact_ordrsp_d96a_eancom_single-line_koha.CEA",
        "edifact_release-character_php-edifact.edi",
    ]
