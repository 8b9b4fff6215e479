"""Property tests: render -> decode round trips, and a crash-free fuzz pass, for cXML and XML.

``codes`` are left out of every comparison: they record the raw codes a decoder read,
which the renderers do not invent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyfeed import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    PayloadError,
    PoAck,
    PoAckLine,
    ShipNotice,
    ShipNoticeLine,
)
from supplyfeed._formats import cxml, xml_mapped
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._models import document_key
from supplyfeed.sim.render import cxml as render_cxml
from supplyfeed.sim.render import xml as render_xml

pytestmark = pytest.mark.slow  # hypothesis: hundreds of generated documents

SUPPLIER = "SUP1"

# XML-representable text with the characters that need escaping; surrounding whitespace
# is layout to the decoders, so values are stripped and never blank.
text = (
    st.text(
        alphabet=st.one_of(
            st.sampled_from("&<>\"'; ]]>-é漢🙂"),
            st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co")),
        ),
        min_size=1,
        max_size=10,
    )
    .map(str.strip)
    .filter(bool)
)
quantity = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
)
zones = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(hours=5, minutes=30))]
)
instant = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=zones
)
day = st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2100, 1, 1))
STATUSES = ["accepted", "accepted_with_changes", "rejected", "backordered"]


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


items = st.builds(
    InventoryItem,
    sku=text,
    on_hand=quantity,
    available=opt(quantity),
    uom=text,
)
snapshots = st.builds(
    InventorySnapshot,
    warehouse_id=text,
    as_of=instant,
    supplier_id=st.just(SUPPLIER),
    issued_at=opt(instant),
    control_number=opt(text),
    items=st.lists(items, min_size=1, max_size=4),
)
ack_lines = st.builds(
    PoAckLine,
    line_number=text,
    sku=opt(text),
    ordered_qty=opt(quantity),
    acked_qty=opt(quantity),
    uom=opt(text),
    unit_price=opt(st.floats(allow_nan=False, allow_infinity=False)),
    line_status=opt(st.sampled_from(STATUSES)),
    promised_date=opt(day),
)
acks = st.builds(
    PoAck,
    po_number=text,
    ack_number=text,
    supplier_id=st.just(SUPPLIER),
    ack_date=opt(day),
    status=st.sampled_from(STATUSES),
    issued_at=opt(instant),
    control_number=opt(text),
    lines=st.lists(ack_lines, max_size=4),
)
ship_lines = st.builds(
    ShipNoticeLine,
    line_seq=st.integers(0, 10**9),
    po_number=opt(text),
    po_line_number=opt(text),
    sku=opt(text),
    shipped_qty=opt(quantity),
    uom=opt(text),
    container_id=opt(text),
    lot=opt(text),
)
notices = st.builds(
    ShipNotice,
    asn_number=text,
    supplier_id=st.just(SUPPLIER),
    ship_date=opt(day),
    expected_delivery=opt(day),
    carrier=opt(text),
    tracking_number=opt(text),
    ship_from=opt(text),
    ship_to=opt(text),
    issued_at=opt(instant),
    control_number=opt(text),
    lines=st.lists(ship_lines, max_size=4),
)
KIND_DOCS: dict[DocKind, st.SearchStrategy[Document]] = {
    DocKind.INVENTORY_SNAPSHOT: snapshots,
    DocKind.PO_ACK: acks,
    DocKind.SHIP_NOTICE: notices,
}


def documents(kind: DocKind) -> st.SearchStrategy[list[Document]]:
    """Documents of one kind with distinct natural keys (a feed never repeats a key)."""
    return st.lists(KIND_DOCS[kind], min_size=1, max_size=3, unique_by=document_key)


def without_codes(doc: Document) -> Document:
    def strip(record: Any) -> Any:
        return msgspec.structs.replace(record, codes={})

    if isinstance(doc, InventorySnapshot):
        return msgspec.structs.replace(doc, codes={}, items=[strip(i) for i in doc.items])
    return msgspec.structs.replace(doc, codes={}, lines=[strip(ln) for ln in doc.lines])


def by_key(docs: Sequence[Document]) -> dict[tuple[str, ...], Document]:
    return {document_key(d): without_codes(d) for d in docs}


def decode_cxml(data: bytes, kind: DocKind) -> list[Document]:
    ctx = DecodeContext(kind=kind, supplier_id=SUPPLIER)
    return list(cxml.decode(Body.from_bytes(data), ctx))


def decode_xml(data: bytes, kind: DocKind) -> list[Document]:
    ctx = DecodeContext(kind=kind, supplier_id=SUPPLIER, mapping=render_xml.MAPPINGS[kind])
    return list(xml_mapped.decode(Body.from_bytes(data), ctx))


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(list(DocKind)), st.integers(0, 3))
def test_cxml_round_trip(data: st.DataObject, kind: DocKind, seed: int) -> None:
    """decode(render(docs)) gives the documents back (codes aside), any text, any seed."""
    docs = data.draw(documents(kind))
    decoded = decode_cxml(render_cxml.render(docs, kind, seed=seed), kind)
    assert by_key(decoded) == by_key(docs)
    assert len(decoded) == len(docs)


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(list(DocKind)), st.integers(0, 3))
def test_generic_xml_round_trip(data: st.DataObject, kind: DocKind, seed: int) -> None:
    """The generic XML shape and its MAPPINGS read back to the same documents, in order."""
    docs = data.draw(documents(kind))
    decoded = decode_xml(render_xml.render(docs, kind, seed=seed), kind)
    assert [without_codes(d) for d in decoded] == [without_codes(d) for d in docs]


def attempt(decoder: Any, data: bytes, kind: DocKind) -> None:
    """Any outcome but an exception other than PayloadError is fine."""
    with contextlib.suppress(PayloadError):
        decoder(data, kind)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from(list(DocKind)))
def test_random_bytes_never_crash(data: bytes, kind: DocKind) -> None:
    """Random bytes give documents or a PayloadError, quickly."""
    attempt(decode_cxml, data, kind)
    attempt(decode_xml, data, kind)


FRAGMENTS = [
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"]]>",
    b'"',
    b"<!ENTITY x 'y'>",
    b"<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/hostname'>]>",
    b"&e;",
    b"\x00",
    b"\xff\xfe",
    b"<cXML>",
    b"</Request>",
    b'quantity="NaN"',
    b'lineNumber=""',
    b"<ConfirmationItem>",
    b"<ShipNoticeItem shipNoticeLineNumber='-1'/>",
    b"9" * 40,
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, DocKind, bool]:
    kind = draw(st.sampled_from(list(DocKind)))
    docs = draw(documents(kind))
    generic = draw(st.booleans())
    body = bytearray((render_xml if generic else render_cxml).render(docs, kind))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["insert", "delete", "flip"]))
        if action == "insert":
            body[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif action == "delete":
            del body[at : at + draw(st.integers(1, 30))]
        elif at < len(body):
            body[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(body), kind, generic


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_documents_never_crash(case: tuple[bytes, DocKind, bool]) -> None:
    """Valid documents with bytes inserted, deleted or flipped: records or PayloadError."""
    data, kind, generic = case
    attempt(decode_xml if generic else decode_cxml, data, kind)
    attempt(decode_cxml if generic else decode_xml, data, kind)
