"""X12 property tests: render → decode round trips, and a crash-free fuzz pass."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyfeed import PayloadError
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.x12.documents import decode
from supplyfeed._formats.x12.tokenizer import X12Delimiters
from supplyfeed._models import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    ShipNotice,
    ShipNoticeLine,
)
from supplyfeed.sim.render.x12 import render

pytestmark = pytest.mark.slow  # hypothesis: hundreds of generated documents

# Values never hold a delimiter (X12 has no escape) nor surrounding spaces (padding).
_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh0123456789-./ #&()ÄéØ"
text = st.text(_SAFE, min_size=1, max_size=12).map(str.strip).filter(bool)
qty = st.integers(0, 10**9) | st.floats(0, 1e6, allow_nan=False).map(lambda f: round(f, 3))
price = st.floats(0, 1e5, allow_nan=False).map(lambda f: round(f, 2))
day = st.dates(dt.date(1990, 1, 1), dt.date(2089, 12, 31))
instant = st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2089, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=dt.UTC)
)
# a version's control number: ISA13 then ST02, each zero-padded to 9 digits (as decoded)
control = st.builds("{:09d}{:09d}".format, st.integers(1, 999_999_999), st.integers(1, 999_999_999))
_PUNCT = "!\"#%&'()*+,-./:;<=>?@[\\]^_`{|}~"


@st.composite
def delimiters(draw: st.DrawFn) -> X12Delimiters:
    """Distinct ASCII punctuation not used in the data; the terminator may also be a
    multi-byte character (NEL, or '…' which is 3 bytes of UTF-8) or a newline."""
    chars = [c for c in _PUNCT if c not in _SAFE]
    picked = draw(st.permutations(chars))[:4]
    terminator = draw(st.sampled_from([picked[2], picked[2], "\x85", "…", "\n"]))
    repetition = picked[3] if draw(st.booleans()) else None
    return X12Delimiters(picked[0], picked[1], terminator, repetition)


_ACK_STATUS = st.sampled_from(
    ["accepted", "accepted_with_changes", "rejected", "backordered", "on_hold", "cancelled"]
)


@st.composite
def ack_line(draw: st.DrawFn, number: int) -> PoAckLine:
    status = draw(st.none() | _ACK_STATUS)
    return PoAckLine(
        line_number=str(number), sku=draw(st.none() | text), ordered_qty=draw(st.none() | qty),
        uom=draw(st.none() | st.sampled_from(["EA", "CS"])), unit_price=draw(st.none() | price),
        line_status=status, acked_qty=draw(st.none() | qty) if status else None,
        promised_date=draw(st.none() | day),
    )  # fmt: skip


@st.composite
def po_ack(draw: st.DrawFn) -> PoAck:
    count = draw(st.integers(0, 5))
    return PoAck(
        po_number=draw(text), ack_number=draw(text), supplier_id="SUP1", ack_date=draw(day),
        status=draw(st.sampled_from([None, "accepted", "accepted_with_changes", "rejected"])),
        issued_at=draw(instant), control_number=draw(control),
        lines=[draw(ack_line(n)) for n in range(1, count + 1)],
    )  # fmt: skip


@st.composite
def ship_notice(draw: st.DrawFn) -> ShipNotice:
    count = draw(st.integers(0, 6))
    pos, containers = draw(st.lists(text, min_size=1, max_size=2)), ["0" * 17 + "1", "0" * 17 + "2"]
    lines = [
        ShipNoticeLine(
            line_seq=n, po_number=draw(st.none() | st.sampled_from(pos)),
            po_line_number=draw(st.none() | text), sku=draw(st.none() | text),
            shipped_qty=draw(st.none() | qty), uom=draw(st.none() | st.just("EA")),
            container_id=draw(st.none() | st.sampled_from(containers)),
            lot=draw(st.none() | text),
        )
        for n in range(1, count + 1)
    ]  # fmt: skip
    return ShipNotice(
        asn_number=draw(text), supplier_id="SUP1", ship_date=draw(st.none() | day),
        expected_delivery=draw(st.none() | day), carrier=draw(st.none() | text),
        tracking_number=draw(st.none() | text), ship_from=draw(st.none() | text),
        ship_to=draw(st.none() | text), issued_at=draw(instant),
        control_number=draw(control), lines=lines,
    )  # fmt: skip


@st.composite
def snapshot(draw: st.DrawFn) -> InventorySnapshot:
    items = [
        InventoryItem(sku=draw(text), on_hand=draw(qty), available=draw(st.none() | qty),
                      uom=draw(st.sampled_from(["EA", "CS", "KG"])))
        for _ in range(draw(st.integers(0, 6)))
    ]  # fmt: skip
    return InventorySnapshot(
        warehouse_id=draw(st.just("") | text), as_of=draw(instant), supplier_id="SUP1",
        issued_at=draw(instant), control_number=draw(control), items=items,
    )  # fmt: skip


def without_codes(doc: Any) -> Any:
    """The document with its X12 audit codes removed (what a renderer cannot state)."""
    fields: dict[str, Any] = {"codes": {}}
    for name in ("lines", "items"):
        if hasattr(doc, name):
            fields[name] = [msgspec.structs.replace(x, codes={}) for x in getattr(doc, name)]
    return msgspec.structs.replace(doc, **fields)


def roundtrip(docs: list[Document], kind: DocKind, seed: int, delims: X12Delimiters | None) -> None:
    data = render(docs, kind, seed=seed, delimiters=delims)
    ctx = DecodeContext(kind=kind, supplier_id="SUP1")
    got = list(decode(Body.from_bytes(data), ctx))
    assert [without_codes(d) for d in got] == [without_codes(d) for d in docs]


@settings(max_examples=60, deadline=None)
@given(st.lists(po_ack(), max_size=3), st.integers(0, 2**32), st.none() | delimiters())
def test_855_roundtrip(docs: list[Document], seed: int, delims: X12Delimiters | None) -> None:
    """Any acknowledgments, rendered with any delimiters, decode back equal."""
    roundtrip(docs, DocKind.PO_ACK, seed, delims)


@settings(max_examples=60, deadline=None)
@given(st.lists(ship_notice(), max_size=3), st.integers(0, 2**32), st.none() | delimiters())
def test_856_roundtrip(docs: list[Document], seed: int, delims: X12Delimiters | None) -> None:
    """Any ship notices (orders, packs, items) decode back equal."""
    roundtrip(docs, DocKind.SHIP_NOTICE, seed, delims)


@settings(max_examples=60, deadline=None)
@given(st.lists(snapshot(), max_size=3), st.integers(0, 2**32), st.none() | delimiters())
def test_846_roundtrip(docs: list[Document], seed: int, delims: X12Delimiters | None) -> None:
    """Any inventory snapshots decode back equal, their version (BIA04/05, ISA13 + ST02)
    included, however many interchanges their control numbers need."""
    roundtrip(docs, DocKind.INVENTORY_SNAPSHOT, seed, delims)


def decode_all(data: bytes, kind: DocKind) -> None:
    for policy in ("strict", "warn"):
        with contextlib.suppress(PayloadError):
            list(decode(Body.from_bytes(data), DecodeContext(kind=kind, envelope_policy=policy)))


_VALID = render(
    [ShipNotice(asn_number="A1", issued_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), lines=[
        ShipNoticeLine(line_seq=1, po_number="P", sku="S", shipped_qty=2, uom="EA",
                       container_id="C1", lot="L")])],
    DocKind.SHIP_NOTICE,
)  # fmt: skip
_FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=600), st.sampled_from(list(DocKind)))
def test_fuzz_random_bytes(data: bytes, kind: DocKind) -> None:
    """Random bytes give documents or a PayloadError, never another exception or a hang."""
    decode_all(data, kind)
    decode_all(b"ISA" + data, kind)


@_FUZZ
@given(st.data(), st.sampled_from(list(DocKind)))
def test_fuzz_mutated_valid_documents(data: st.DataObject, kind: DocKind) -> None:
    """Valid X12 with bytes replaced, inserted or cut still only gives PayloadError."""
    body = bytearray(_VALID)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(body)))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.sampled_from(list(b"*~:^>\n\r 0123456789HLSE\x00\xff")))
        if action == "insert":
            body.insert(at, byte)
        elif at < len(body) and action == "replace":
            body[at] = byte
        elif at < len(body):
            del body[at]
    decode_all(bytes(body), kind)
