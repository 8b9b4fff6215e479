"""Property tests: render -> decode round trips under random delimiters, and a fuzz pass."""

from __future__ import annotations

import datetime as dt
from typing import Literal, TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyfeed import PayloadError
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.edifact.documents import decode
from supplyfeed._formats.edifact.tokenizer import EdifactDelimiters, tokenize
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
from supplyfeed.sim.render.edifact import render

pytestmark = pytest.mark.slow  # hypothesis: hundreds of generated documents

_PUNCTUATION = list(":+?'|^~!*#@$%&;/\\<>=\"_`")
_R = TypeVar("_R", bound=msgspec.Struct)


@st.composite
def delimiter_sets(draw: st.DrawFn) -> EdifactDelimiters:
    """Four distinct service characters from the punctuation a UNA could name."""
    comp, elem, release, term = draw(st.permutations(_PUNCTUATION))[:4]
    decimal = draw(st.sampled_from(".,"))
    return EdifactDelimiters(comp, elem, decimal, release, " ", term)


# Values mixing anything printable with the characters most likely to break escaping.
values = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=["Cs"]), st.sampled_from([*_PUNCTUATION, "?", "'"])
    ),
    min_size=1,
    max_size=12,
)
quantities = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
)
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 1, 1), timezones=st.just(dt.UTC)
).map(lambda d: d.replace(microsecond=0))
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 1, 1))
settings_ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def ack_lines(draw: st.DrawFn, number: int) -> PoAckLine:
    status = draw(
        st.sampled_from(
            [
                None,
                "accepted",
                "accepted_with_changes",
                "rejected",
                "deleted",
                "added",
                "backordered",
            ]
        )
    )
    acked = draw(quantities if status == "backordered" else st.none() | quantities)
    ordered = draw(st.none() | quantities)
    has_qty = acked is not None or ordered is not None
    return PoAckLine(
        line_number=str(number),
        sku=draw(st.none() | values),
        ordered_qty=ordered,
        acked_qty=acked,
        uom=draw(st.none() | values) if has_qty else None,
        unit_price=draw(st.none() | st.floats(0, 1e6, allow_nan=False)),
        line_status=status,
        promised_date=draw(st.none() | dates),
    )


@st.composite
def po_acks(draw: st.DrawFn) -> PoAck:
    issued = draw(st.none() | instants)
    return PoAck(
        po_number=draw(values),
        ack_number=draw(values),
        supplier_id="SUP",
        ack_date=issued.date() if issued else draw(st.none() | dates),
        status=draw(st.sampled_from([None, "accepted", "accepted_with_changes", "rejected"])),
        issued_at=issued,
        control_number=draw(values),
        lines=[draw(ack_lines(n)) for n in range(1, draw(st.integers(0, 4)) + 1)],
    )


@st.composite
def ship_notices(draw: st.DrawFn) -> ShipNotice:
    containers = st.none() | st.sampled_from(["340000000000000017", "34000000000000002?"])
    lines = []
    for seq in range(1, draw(st.integers(0, 5)) + 1):
        shipped = draw(st.none() | quantities)
        lines.append(
            ShipNoticeLine(
                line_seq=seq,
                po_number=draw(st.none() | values),
                po_line_number=draw(st.none() | values),
                sku=draw(st.none() | values),
                shipped_qty=shipped,
                uom=draw(st.none() | values) if shipped is not None else None,
                container_id=draw(containers),
                lot=draw(st.none() | values),
            )
        )
    return ShipNotice(
        asn_number=draw(values),
        supplier_id="SUP",
        ship_date=draw(st.none() | dates),
        expected_delivery=draw(st.none() | dates),
        carrier=draw(st.none() | values),
        tracking_number=draw(st.none() | values),
        ship_from=draw(st.none() | values),
        ship_to=draw(st.none() | values),
        issued_at=draw(st.none() | instants),
        control_number=draw(values),
        lines=lines,
    )


@st.composite
def snapshots(draw: st.DrawFn, as_of: dt.datetime) -> InventorySnapshot:
    items = [
        InventoryItem(
            sku=draw(values),
            on_hand=draw(quantities),
            available=draw(st.none() | quantities),
            uom=draw(st.sampled_from(["EA", "KGM", "PCE"])),
        )
        for _ in range(draw(st.integers(0, 4)))
    ]
    return InventorySnapshot(
        warehouse_id=draw(values),
        as_of=as_of,
        supplier_id="SUP",
        issued_at=draw(st.none() | instants),
        control_number=draw(values),
        items=items,
    )


@st.composite
def snapshot_lists(draw: st.DrawFn) -> list[InventorySnapshot]:
    instant = draw(instants)  # shared instants let the renderer use the multi-location form
    return [
        draw(snapshots(draw(st.sampled_from([instant, instant + dt.timedelta(hours=1)]))))
        for _ in range(draw(st.integers(1, 4)))
    ]


def _strip(record: _R) -> _R:
    """The record without ``codes`` (the decoder's audit trail), recursively."""
    changes: dict[str, object] = {"codes": {}}
    for name in ("lines", "items"):
        if hasattr(record, name):
            changes[name] = [_strip(child) for child in getattr(record, name)]
    return msgspec.structs.replace(record, **changes)


def _round_trip(
    docs: list[Document], kind: DocKind, seed: int, delimiters: EdifactDelimiters | None
) -> list[Document]:
    body = render(docs, kind, seed=seed, delimiters=delimiters)
    ctx = DecodeContext(kind=kind, supplier_id="SUP")
    return [_strip(d) for d in decode(Body.from_bytes(body), ctx)]


@settings_
@given(st.lists(po_acks(), max_size=3), st.integers(0, 10_000), st.none() | delimiter_sets())
def test_po_acks_round_trip(
    docs: list[Document], seed: int, delimiters: EdifactDelimiters | None
) -> None:
    """ORDRSP render -> decode gives the documents back."""
    assert _round_trip(docs, DocKind.PO_ACK, seed, delimiters) == docs


@settings_
@given(st.lists(ship_notices(), max_size=3), st.integers(0, 10_000), st.none() | delimiter_sets())
def test_ship_notices_round_trip(
    docs: list[Document], seed: int, delimiters: EdifactDelimiters | None
) -> None:
    """DESADV render -> decode gives the documents back, SSCCs through CPS levels included."""
    assert _round_trip(docs, DocKind.SHIP_NOTICE, seed, delimiters) == docs


@settings_
@given(snapshot_lists(), st.integers(0, 10_000), st.none() | delimiter_sets())
def test_inventory_snapshots_round_trip(
    docs: list[InventorySnapshot], seed: int, delimiters: EdifactDelimiters | None
) -> None:
    """INVRPT render -> decode gives the snapshots back, available quantities exactly, and
    their version (DTM 137, UNB05)."""
    decoded = _round_trip(list(docs), DocKind.INVENTORY_SNAPSHOT, seed, delimiters)
    assert decoded == docs


@settings_
@given(
    delimiter_sets(),
    st.lists(
        st.lists(st.lists(values, min_size=1, max_size=3), min_size=1, max_size=4), max_size=5
    ),
)
def test_tokenizer_round_trips_escaped_values(
    d: EdifactDelimiters, segments: list[list[list[str]]]
) -> None:
    """Values holding delimiter and release characters come back from the tokenizer intact."""
    escape = str.maketrans({c: d.release + c for c in d.release + d.separators})
    text = d.una() + "UNB" + d.element + "UNOY" + d.component + "4" + d.terminator
    for elements in segments:
        text += "FTX" + d.element
        text += d.element.join(d.component.join(c.translate(escape) for c in e) for e in elements)
        text += d.terminator + "\r\n"
    parsed = tokenize(text.encode())
    assert [s.elements for s in parsed[1:]] == segments


def _decode_any(data: bytes, kind: DocKind, policy: Literal["strict", "warn"]) -> None:
    ctx = DecodeContext(kind=kind, envelope_policy=policy, max_items_per_part=2)
    try:
        for doc in decode(Body.from_bytes(data), ctx):
            assert isinstance(doc, (PoAck, ShipNotice, InventorySnapshot))
    except PayloadError:
        pass


fuzz_settings = settings(max_examples=300, deadline=2000)


@fuzz_settings
@given(st.binary(max_size=400), st.sampled_from(list(DocKind)), st.sampled_from(["strict", "warn"]))
def test_random_bytes_give_records_or_payload_errors(
    data: bytes, kind: DocKind, policy: Literal["strict", "warn"]
) -> None:
    """Arbitrary bytes never raise anything but PayloadError, and never hang."""
    _decode_any(data, kind, policy)
    _decode_any(b"UNA:+.? 'UNB+UNOC:3+" + data, kind, policy)


@fuzz_settings
@given(
    st.sampled_from(list(DocKind)),
    st.integers(0, 50),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.binary(max_size=4)), max_size=6
    ),
    st.sampled_from(["strict", "warn"]),
)
def test_mutated_interchanges_give_records_or_payload_errors(
    kind: DocKind,
    seed: int,
    mutations: list[tuple[int, int, bytes]],
    policy: Literal["strict", "warn"],
) -> None:
    """Valid interchanges with bytes cut, replaced or inserted decode or fail typed."""
    samples: dict[DocKind, list[Document]] = {
        DocKind.PO_ACK: [
            PoAck(
                po_number="P?1",
                ack_number="A'1",
                lines=[
                    PoAckLine(line_number="1", sku="S", ordered_qty=2, acked_qty=1, unit_price=1.5)
                ],
            )
        ],
        DocKind.SHIP_NOTICE: [
            ShipNotice(
                asn_number="N+1",
                lines=[
                    ShipNoticeLine(
                        line_seq=1,
                        sku="S",
                        shipped_qty=3,
                        container_id="340000000000000017",
                        lot="L",
                    )
                ],
            )
        ],
        DocKind.INVENTORY_SNAPSHOT: [
            InventorySnapshot(
                warehouse_id="W:1",
                as_of=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                items=[InventoryItem(sku="S", on_hand=4, available=3)] * 3,
            )
        ],
    }
    data = bytearray(render(samples[kind], kind, seed=seed))
    for position, length, replacement in mutations:
        at = position % (len(data) + 1)
        data[at : at + length] = replacement
    _decode_any(bytes(data), kind, policy)
