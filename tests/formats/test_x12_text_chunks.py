"""X12 text chunks: unsplit chunks split as the tokenizer would, and the 846 read from text.

The fast paths must be invisible: a chunk taken as a :class:`TextChunk` has the segments
:meth:`Tokenizer.split` gives, and an 846 decodes to the same documents, warnings and
errors whether its common items are read from the text, from the segments in bulk, one
by one, or by the general path alone (``DecodeContext.fast_paths``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from supplyfeed import PayloadError
from supplyfeed._formats.base import DecodeContext, FastPaths
from supplyfeed._formats.body import Body
from supplyfeed._formats.x12._fast846 import text_items
from supplyfeed._formats.x12.documents import decode
from supplyfeed._formats.x12.tokenizer import (
    TextChunk,
    Tokenizer,
    X12Delimiters,
    iter_text_pieces,
    segments_of,
)
from supplyfeed._models import DocKind

_TERMINATORS = ["~", "\n", "\xe2\x80\xa6"]  # the last: "…" in UTF-8, read as latin-1


def _split(tokenizer: Tokenizer, text: str) -> list[list[str]] | str:
    try:
        return tokenizer.split(text)
    except PayloadError as exc:
        return str(exc)


def _piece(tokenizer: Tokenizer, text: str) -> list[list[str]] | str:
    try:
        return segments_of(tokenizer.piece(text))
    except PayloadError as exc:
        return str(exc)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(_TERMINATORS),
    st.lists(
        st.sampled_from(["AB", "LIN", "ST", "*", ":", " ", "\t", "\r", "\n", "T"]), max_size=30
    ),
)
@example("~", ["A", " ", "~", "\r\n", "\r\n", "B"])  # normalizing twice would keep "A "
@example("~", ["~", "A"])  # a first empty segment is kept
def test_piece_gives_the_segments_split_gives(terminator: str, parts: list[str]) -> None:
    text = "".join(p if p != "~" else terminator for p in parts)
    text = text.replace("T", terminator)  # terminators in all places
    delimiters = X12Delimiters("*", ":", terminator)
    by_split, by_piece = Tokenizer(delimiters), Tokenizer(delimiters)
    segments = _split(by_split, text)
    assert _piece(by_piece, text) == segments
    assert by_piece.count == by_split.count
    if not isinstance(segments, str):
        chunk = Tokenizer(delimiters).piece(text)
        assert len(chunk) == len(segments)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(_TERMINATORS),
    st.lists(
        st.sampled_from(["LIN*A", "QTY*17*3", "ST*846", "SE*1", "GS", "IEA*1", "X"]), min_size=1
    ),
    st.data(),
)
def test_text_chunk_ranges_and_tag_search(
    terminator: str, segments: list[str], data: st.DataObject
) -> None:
    """``split_range`` cuts the segments at any boundary; ``may_hold`` misses no tag."""
    text = terminator.join(segments) + data.draw(st.sampled_from(["", terminator]))
    chunk = TextChunk(text, terminator, "*")
    assert chunk.segments() == [s.split("*") for s in segments]
    cut = data.draw(st.integers(0, len(segments)))
    at = len(terminator.join(segments[:cut])) + (len(terminator) if cut else 0)
    assert chunk.split_range(0, at) + chunk.split_range(at, len(text)) == chunk.segments()
    tags = frozenset({"ST", "SE", "GS", "IEA"})
    if any(s.split("*")[0] in tags for s in segments):
        assert chunk.may_hold(tags)


# -- the 846 read from text, in bulk, or item by item -------------------------------------

_ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*260101*1200*U*00401*000000007*0*P*>"
)

_MUTATIONS = [
    "qualifier",
    "padded sku",
    "non-ascii sku",
    "empty sku",
    "leading zero",
    "decimal",
    "not a number",
    "superscript",
    "big",
    "unit",
    "empty unit",
    "padded unit",
    "composite unit",
    "no available",
    "total inventory",
    "item location",
    "sdq",
    "uit",
    "bare lin",
    "envelope-like tag",
]


def _item(n: int, mutation: str | None) -> list[str]:
    qualifier, sku, hand, avail, unit = "SK", f"SKU-{n:06d}", str(n % 997), str(n % 13), "EA"
    match mutation:
        case "qualifier":
            qualifier = "VP"
        case "padded sku":
            sku = f" {sku} "
        case "non-ascii sku":
            sku += "\xc3\x84"  # "Ä" in UTF-8, as latin-1
        case "empty sku":
            sku = ""
        case "leading zero":
            hand = "0" + hand
        case "decimal":
            hand += ".5"
        case "not a number":
            avail = "x"
        case "superscript":
            hand = "\xb2"
        case "big":
            hand = "9" * 25
        case "unit":
            unit = "CS"
        case "empty unit":
            unit = ""
        case "padded unit":
            unit = "EA "
        case "composite unit":
            unit = "EA>1"
    lin = f"LIN**{qualifier}*{sku}"
    on_hand = f"QTY*{'26' if mutation == 'total inventory' else '17'}*{hand}*{unit}"
    available = f"QTY*33*{avail}*{unit}"
    extra = {
        "item location": ["N1*LC*Aisle*92*L2"],
        "sdq": ["SDQ*EA*92*A1*3*A2*4"],
        "uit": ["UIT*CS"],
        "bare lin": ["LIN"],
        "envelope-like tag": ["SEG*1"],
    }.get(mutation or "", [])
    tail = [] if mutation == "no available" else [available]
    return [lin, *extra, on_hand, *tail]


def _payload(items: int, mutations: dict[int, str], layout: str) -> bytes:
    body = ["BIA*00*SI*SNAP*20260302*060000", "DTM*007*20260302*060000*UT", "N1*WH*W1*92*W1"]
    for n in range(items):
        body += _item(n, mutations.get(n))
    body.append(f"CTT*{items}")
    segments = [
        _ISA,
        "GS*IB*SENDER*RECEIVER*20260102*0930*1*X*004010",
        "ST*846*0001",
        *body,
        f"SE*{len(body) + 2}*0001",
        "GE*1*1",
        "IEA*1*000000007",
    ]
    return "".join(s + "~" + layout for s in segments).encode("latin-1")


_SLOWER: tuple[FastPaths, ...] = ("segments", "items", "none")  # than "all", the default


def _decode(data: bytes, part: int, spooled: bool, paths: FastPaths = "all") -> str:
    """Documents (or the error) and warnings, as text; read as a stream when spooled."""
    ctx = DecodeContext(
        kind=DocKind.INVENTORY_SNAPSHOT, supplier_id="S", max_items_per_part=part, fast_paths=paths
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "payload.x12"
        path.write_bytes(data)
        body = Body(path=path) if spooled else Body.from_bytes(data)
        try:
            out = msgspec.json.encode(list(decode(body, ctx))).decode()
        except PayloadError as exc:
            out = f"{exc} at {exc.where}"
    return out + "\n" + "\n".join(ctx.warnings)


@st.composite
def _mutations(draw: st.DrawFn, items: int) -> dict[int, str]:
    """A few mutations anywhere, and one kind every ``period`` items: about one a chunk,
    at drifting places, so that some fall before the first or on the last item of a
    chunk whose other items are read from the text (where positions are computed)."""
    mutations = draw(
        st.dictionaries(st.integers(0, max(items - 1, 0)), st.sampled_from(_MUTATIONS), max_size=4)
    )
    period = draw(st.integers(60, 400))
    kind = draw(st.sampled_from(_MUTATIONS))
    phase = draw(st.integers(0, period - 1))
    mutations.update(dict.fromkeys(range(phase, items, period), kind))
    return mutations


@settings(max_examples=60, deadline=None)
@given(
    items=st.integers(0, 1500),
    data=st.data(),
    layout=st.sampled_from(["", "\n", "\r\n", "\r\n\r\n"]),
    part=st.sampled_from([5, 100, 10_000]),
    spooled=st.booleans(),
)
@pytest.mark.slow  # hypothesis, four decodes of up to 1,500 items an example
def test_846_reads_the_same_from_text_in_bulk_and_item_by_item(
    items: int, data: st.DataObject, layout: str, part: int, spooled: bool
) -> None:
    payload = _payload(items, data.draw(_mutations(items)), layout)
    from_text = _decode(payload, part, spooled)
    assert [_decode(payload, part, spooled, paths) for paths in _SLOWER] == [from_text] * 3


_ITEMS = 2000  # items enough for several chunks


def _chunk_ends(payload: bytes) -> list[int]:
    """The items that open the last LIN of a chunk read from text (they may go on in the
    next chunk): where head and tail segments are split apart from the text.

    The decoder's chunks, read as it reads them: all but the first (the header, which it
    splits) and those the envelope splits for its own segments."""
    _, chunks = iter_text_pieces(payload)
    envelope = frozenset({"SE", "GE", "IEA"})
    ends: list[int] = []
    for chunk in list(chunks)[1:]:
        if not isinstance(chunk, TextChunk) or chunk.may_hold(envelope):
            continue
        run = text_items(chunk, ">")
        if run is not None:
            lin = chunk.split_range(run.last, len(chunk.text))[0]
            ends.append(int(lin[3].split("-")[1]))
    return ends


@pytest.mark.parametrize("layout", ["", "\r\n"])
@pytest.mark.parametrize("kind", ["empty sku", "bare lin", "not a number", "no available", "sdq"])
def test_846_items_across_chunk_ends_read_the_same(layout: str, kind: str) -> None:
    """Warnings and errors on the items around a chunk's end name the same positions."""
    ends = _chunk_ends(_payload(_ITEMS, {}, layout))
    assert len(ends) >= 4
    for n in (ends[1] - 1, ends[1], ends[2] + 1):
        payload = _payload(_ITEMS, {n: kind}, layout)
        from_text = _decode(payload, 100, spooled=False)
        for paths in _SLOWER:
            assert _decode(payload, 100, spooled=False, paths=paths) == from_text


@pytest.mark.parametrize("bad", ["superscript", "not a number"])
def test_846_a_bad_quantity_fails_after_the_warnings_of_the_items_before_it(bad: str) -> None:
    """ "²" is a digit to ``str.isdigit`` but no number to ``int``: the error comes at its
    item, as item by item, after the warning of an earlier item in the same chunk."""
    ends = _chunk_ends(_payload(_ITEMS, {}, ""))
    payload = _payload(_ITEMS, {ends[1] + 5: "empty sku", ends[1] + 50: bad}, "")
    from_text = _decode(payload, 100, spooled=False)
    assert "LIN without a product id skipped" in from_text
    for paths in _SLOWER:
        assert _decode(payload, 100, spooled=False, paths=paths) == from_text
