"""The PostgreSQL load path: rows as COPY text, groups of small units, chunk boundaries.

The contract suite checks the semantics with the default chunk size; here the same
batches go to the in-memory fake and to PostgreSQL with a tiny chunk (so every flush,
part and group boundary is crossed) and the stored tables and ledger rows must agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from supplyfeed._models import Document, InventoryItem, InventorySnapshot
from supplyfeed._sink.base import EndpointRecord, LoadUnit, Outcome
from supplyfeed._sink.memory import MemorySink
from supplyfeed._sink.postgres import PostgresOptions, PostgresSink
from supplyfeed._sink.postgres_copy import copy_text, inventory_text
from supplyfeed._sink.schema import line_rows

from .conftest import reset_database
from .helpers import T0, bad_payload, dump, failing, po_ack, ship_notice, snapshot, unit

# -- COPY text (no server) ------------------------------------------------------------------


def test_copy_text_spells_nulls_and_values_as_the_server_reads_them() -> None:
    rows = [("a", None, 3, 2.5, "2026-11-28T07:45:00Z"), ("b", "x", -1, None, None)]
    assert copy_text(rows) == b"a\t\\N\t3\t2.5\t2026-11-28T07:45:00Z\nb\tx\t-1\t\\N\t\\N\n"
    assert copy_text([]) == b""


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("tab\there", "tab\\there"),
        ("line\nbreak", "line\\nbreak"),
        ("carriage\rreturn", "carriage\\rreturn"),
        ("back\\slash", "back\\\\slash"),
        ("\\N", "\\\\N"),  # the NULL marker as text is text, not NULL
        ("None", "None"),
        ("ünïcode ✓", "ünïcode ✓"),
    ],
)
def test_copy_text_escapes_only_what_the_format_reserves(value: str, spelled: str) -> None:
    assert copy_text([("k", value, None)]) == f"k\t{spelled}\t\\N\n".encode()


def test_copy_text_refuses_text_no_encoding_takes() -> None:
    with pytest.raises(UnicodeEncodeError):
        copy_text([("lone \ud800 surrogate",)])


_text = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["None", "\\N", "EA", "a\tb", "a\\b", "%s", "{}"]),
)
_quantity = st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=False))
_any_item = st.builds(
    InventoryItem,
    sku=_text,
    on_hand=_quantity,
    available=st.one_of(st.none(), _quantity),
    uom=_text,
    codes=st.dictionaries(_text, _text, max_size=2),
)


@given(
    items=st.lists(_any_item, max_size=5),
    warehouse=_text,
    request_id=st.one_of(st.none(), _text),
    url=_text,
    control=st.one_of(st.none(), _text),
    issued=st.one_of(st.none(), st.just(T0)),
)
def test_inventory_text_is_the_general_path_s_text(
    items: list[InventoryItem],
    warehouse: str,
    request_id: str | None,
    url: str,
    control: str | None,
    issued: dt.datetime | None,
) -> None:
    """The inventory builder's shortcut gives the very bytes of copy_text over the shared
    row builder, whatever the values (reserved characters, the text None, NULLs), the
    part's version included."""
    doc = InventorySnapshot(
        supplier_id="SUP",
        warehouse_id=warehouse,
        as_of=T0,
        items=items,
        issued_at=issued,
        control_number=control,
    )
    prov = ("run-1", url, request_id, "src")
    assert inventory_text(doc, prov) == copy_text(line_rows(doc, prov)["inventory_positions"])


def test_inventory_text_with_a_missing_sku_says_null() -> None:
    """A None the f-string would spell ``None`` goes down the general path: NULL, which
    the server refuses (NOT NULL) instead of storing the text."""
    item = InventoryItem(sku="S1", on_hand=1)
    item.sku = None  # type: ignore[assignment]
    doc = InventorySnapshot(supplier_id="SUP", warehouse_id="W1", as_of=T0, items=[item])
    assert inventory_text(doc, ("r", "u", None, "s")).split(b"\t")[3] == b"\\N"


# -- against the in-memory fake -------------------------------------------------------------


@pytest.fixture
async def url(pg_database: str) -> str:
    await reset_database(pg_database)
    return pg_database


def _items(skus: list[str], on_hand: float = 1) -> list[InventoryItem]:
    return [InventoryItem(sku=s, on_hand=on_hand, available=None) for s in skus]


def _parts(warehouse: str, skus: range, size: int, on_hand: int = 5) -> list[Document]:
    return [
        snapshot(warehouse, skus[i : i + size], on_hand=on_hand) for i in range(0, len(skus), size)
    ]


def _awkward() -> InventorySnapshot:
    skus = ["tab\tsku", "nl\nsku", "cr\rsku", "back\\slash", "\\N", "None", "ünï ✓", "", "x" * 300]
    items = _items(skus, on_hand=2.5)
    items[0].codes = {"quote": 'a"b', "slash": "c\\d", "tab": "e\tf"}
    items[1].uom = "EA\t2"
    items[2].available = 0.1
    items[3].on_hand = 12.0
    return InventorySnapshot(supplier_id="S\tUP", warehouse_id="W\\1", as_of=T0, items=items)


def _twice(first: Document, second: Document) -> Iterator[Document]:
    """One payload holding the same document twice (in two places)."""
    yield first
    yield snapshot("W-other")
    yield second


def _batches() -> list[list[LoadUnit]]:
    """Fresh documents, replacements, stale and unchanged ones, streamed documents (new,
    replaced, unchanged), one document twice in a batch and in a unit, a decoder that
    fails half-way, a payload with duplicate lines, and text the format must escape."""
    return [
        [
            unit("a1", [snapshot("W1", range(10)), snapshot("W2", range(4))]),
            unit("a2", [po_ack((1, 2, 3), control="1")]),
            unit("a3", [ship_notice((1, 2))]),
            unit("a4", [_awkward()]),
        ],
        [
            unit("b1", [snapshot("W1", range(8), on_hand=7)], run_id="run-2"),
            unit("b2", [snapshot("W1", range(8), on_hand=7)], run_id="run-2"),
            unit("b3", [po_ack((1, 4), control="2", qty=99)], run_id="run-2"),
            unit("b4", [po_ack((1, 2, 3, 5), control="1")], run_id="run-2"),
            unit("b5", [snapshot("W9", [1, 2, 1])], run_id="run-2"),  # a duplicate line
        ],
        [
            unit("c1", _parts("W3", range(30), 10), run_id="run-3"),
            unit("c2", _parts("W1", range(12), 5, on_hand=3), run_id="run-3"),
            unit("c3", _parts("W2", range(4), 3), run_id="run-3"),  # unchanged
            unit("c4", [*_parts("W4", range(6), 2, on_hand=1), snapshot("W4b")], run_id="run-3"),
        ],
        [
            unit(
                "d1", lambda: _twice(snapshot("W5", range(3)), snapshot("W5", range(6), on_hand=4))
            ),
            unit("d2", failing([snapshot("W6"), snapshot("W7")], bad_payload()), body=b"bad"),
            unit("d3", [snapshot(f"W{n}", range(3)) for n in range(10, 20)], run_id="run-4"),
            unit("d4", [_awkward()], run_id="run-4"),  # unchanged
        ],
    ]


def _ledger(finals: list[EndpointRecord]) -> list[tuple[Any, ...]]:
    return [(f.outcome, f.error_kind, f.records, f.documents, f.stale_documents) for f in finals]


@pytest.mark.parametrize("chunk_rows", [4, 50_000])
async def test_the_same_batches_store_what_the_in_memory_fake_stores(
    url: str, chunk_rows: int
) -> None:
    memory = MemorySink("memory://")
    await memory.open()
    async with PostgresSink(url, PostgresOptions(chunk_rows=chunk_rows)) as pg:
        for batch, twin in zip(_batches(), _batches(), strict=True):
            expected = _ledger(await memory.load(batch))
            assert _ledger(await pg.load(twin)) == expected
            assert await dump(pg) == await dump(memory)
        letters = [(d.endpoint_key, d.error_kind) for d in await pg.dead_letters()]
    await memory.close()
    assert letters == [("b5", "constraint"), ("d2", "syntax")]


async def test_a_refused_unit_in_a_group_quarantines_only_itself(url: str) -> None:
    """The group's rows are refused (a duplicate line): the group is rolled back and
    written again a unit at a time, which keeps the others."""
    async with PostgresSink(url) as sink:
        finals = await sink.load(
            [
                unit("e1", [snapshot("W1")]),
                unit("e2", [snapshot("W2", [1, 1])]),
                unit("e3", [snapshot("W3")]),
            ]
        )
        rows = await sink.table_rows("inventory_positions")
        [letter] = await sink.dead_letters()
    assert [(f.outcome, f.error_kind) for f in finals] == [
        (Outcome.LOADED, None),
        (Outcome.QUARANTINED, "constraint"),
        (Outcome.LOADED, None),
    ]
    assert sorted({r["warehouse_id"] for r in rows}) == ["W1", "W3"]
    assert letter.endpoint_key == "e2"


def _counts(finals: list[EndpointRecord]) -> list[tuple[Any, ...]]:
    return [
        (f.request_id, f.records_loaded, f.records_unchanged, f.records_superseded) for f in finals
    ]


async def test_a_streamed_part_found_unchanged_undoes_the_recounts_it_made(url: str) -> None:
    """A part re-sent in two chunks with the content already stored is written as it
    streams, then rolled back as unchanged: the lines it displaced on the way (another
    unit's, in the same call) keep their bucket, as on the in-memory fake."""
    newer = msgspec.structs.replace(snapshot("W1", range(5)), issued_at=T0)
    halves = [msgspec.structs.replace(newer, items=newer.items[i : i + 3]) for i in (0, 3)]

    def batch() -> list[LoadUnit]:
        return [
            unit("a", [snapshot("W1", range(1), on_hand=9)], request_id="r1"),
            unit("b", [newer], request_id="r2"),
            unit("b", halves, request_id="r3"),  # the same content, streamed in two parts
        ]

    memory = MemorySink("memory://")
    await memory.open()
    await memory.load(batch())
    expected = _counts(await memory.endpoints("run-1"))
    async with PostgresSink(url) as pg:
        await pg.load(batch())
        assert _counts(await pg.endpoints("run-1")) == expected
        assert await dump(pg) == await dump(memory)
    assert expected[0] == ("r1", 0, 0, 1)  # SKU-0 superseded by the newer part, once
