"""Row building and content hashes, shared by every SQL sink."""

from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from supplyfeed._models import InventoryItem, InventorySnapshot
from supplyfeed._sink.position_json import position_json_statements
from supplyfeed._sink.schema import (
    CANONICAL_TABLES,
    INDEXES,
    TABLES,
    content_hash,
    create_statements,
    rows_for,
    version_key,
)
from supplyfeed._sink.views import VIEW_NAMES

from .helpers import T0, po_ack, ship_notice, snapshot


def test_rows_match_their_table_columns() -> None:
    """Every row tuple has one value per column, provenance in its columns (an inventory
    line also carries its part's version, after the provenance)."""
    prov = ("run", "https://x", "req", "https://x")
    names = ("run_id", "source_url", "request_id", "source")
    for doc in (snapshot(), po_ack(), ship_notice()):
        for table, rows in rows_for(doc, prov).items():
            columns = TABLES[table].column_names
            for row in rows:
                assert len(row) == len(columns)
                assert tuple(row[columns.index(n)] for n in names) == prov


def test_hash_ignores_provenance_but_not_content() -> None:
    """Two loads of one document hash alike; any changed value changes the hash."""
    assert content_hash(po_ack()) == content_hash(po_ack())
    assert content_hash(po_ack()) != content_hash(po_ack(qty=11))
    assert content_hash(po_ack()) != content_hash(po_ack(control="2"))


def test_codes_order_does_not_change_the_hash() -> None:
    """Qualifier codes are a map: their order in the source is not content."""
    a = InventorySnapshot(warehouse_id="W", as_of=T0, codes={"a": "1", "b": "2"})
    b = InventorySnapshot(warehouse_id="W", as_of=T0, codes={"b": "2", "a": "1"})
    assert content_hash(a) == content_hash(b)


@given(st.lists(st.integers(0, 50), max_size=60, unique=True), st.integers(1, 7))
def test_a_document_in_parts_hashes_like_the_whole(skus: list[int], size: int) -> None:
    """Streaming in parts of any size (empty parts too) does not change the hash."""
    whole = snapshot(skus=skus)
    parts = [snapshot(skus=skus[i : i + size]) for i in range(0, max(len(skus), 1), size)]
    assert content_hash(parts) == content_hash(whole)


@given(
    st.lists(st.integers(0, 50), max_size=60, unique=True),
    st.integers(1, 7),
    st.none() | st.datetimes(timezones=st.just(dt.UTC)),
    st.none() | st.text(max_size=20),
    st.dictionaries(st.sampled_from(["payloadID", "location", "z"]), st.text(max_size=5)),
)
def test_a_versioned_snapshot_in_parts_hashes_like_the_whole(
    skus: list[int],
    size: int,
    issued: dt.datetime | None,
    control: str | None,
    codes: dict[str, str],
) -> None:
    """A snapshot's version and codes (sorted before and after "items") are hashed alike
    whole and streamed; a different version is a different content."""
    whole = msgspec.structs.replace(
        snapshot(skus=skus), issued_at=issued, control_number=control, codes=codes
    )
    parts = [
        msgspec.structs.replace(whole, items=whole.items[i : i + size])
        for i in range(0, max(len(skus), 1), size)
    ]
    assert content_hash(parts) == content_hash(whole)
    other = msgspec.structs.replace(whole, control_number=(control or "") + "1")
    assert content_hash(other) != content_hash(whole)


def test_numeric_control_numbers_compare_as_numbers() -> None:
    """Control number 10 is newer than 9; a missing version is the oldest."""
    t = "2026-01-01T00:00:00Z"
    assert version_key((t, "10")) > version_key((t, "9"))
    assert version_key((None, None)) < version_key((t, None)) < version_key((t, "1"))
    later = "2026-01-01T00:00:00.500000Z"
    assert version_key((later, "1")) > version_key((t, "99"))


def test_timestamps_are_utc_text_and_quantities_keep_their_type() -> None:
    """as_of is stored as UTC ISO text; 12 stays int, 12.5 float."""
    eastern = dt.timezone(dt.timedelta(hours=-5))
    doc = InventorySnapshot(
        warehouse_id="W",
        as_of=dt.datetime(2026, 1, 1, 2, 0, tzinfo=eastern),
        items=[InventoryItem(sku="A", on_hand=12, available=12.5)],
    )
    [row] = rows_for(doc)["inventory_positions"]
    assert row[2:6] == ("2026-01-01T07:00:00Z", "A", 12, 12.5)


def test_ddl_renders_for_both_dialects() -> None:
    """The table descriptions render for SQLite and PostgreSQL, with the kept positions'
    table and its triggers; the views are made again at every open (SQLite: dropped,
    dependents first, then created)."""
    sqlite, pg = create_statements("sqlite"), create_statements("postgresql")
    kept_sqlite, kept_pg = (
        position_json_statements("sqlite"),
        position_json_statements("postgresql"),
    )
    assert len(pg) == len(TABLES) + len(INDEXES) + len(kept_pg) + len(VIEW_NAMES)
    assert len(sqlite) == len(pg) - len(kept_pg) + len(kept_sqlite) + len(VIEW_NAMES)
    assert [s.split(" AS")[0] for s in sqlite[-2 * len(VIEW_NAMES) :]] == [
        *(f"DROP VIEW IF EXISTS {name}" for name in reversed(VIEW_NAMES)),
        *(f"CREATE VIEW {name}" for name in VIEW_NAMES),
    ]
    assert [s.split(" AS")[0] for s in pg[-len(VIEW_NAMES) :]] == [
        f"CREATE OR REPLACE VIEW {name}" for name in VIEW_NAMES
    ]
    assert all("STRICT" not in s for s in pg)
    inventory = next(s for s in sqlite if "inventory_positions" in s)
    assert "PRIMARY KEY (supplier_id, warehouse_id, as_of, sku)" in inventory
    assert len(CANONICAL_TABLES) == 5


@given(st.lists(st.integers(1, 50), max_size=30, unique=True), st.integers(1, 7))
def test_acks_and_notices_in_parts_hash_like_the_whole(lines: list[int], size: int) -> None:
    """The header's JSON is cut around the line array: any header fields, any parts."""
    for make in (po_ack, ship_notice):
        whole = make(lines)
        parts = [make(lines[i : i + size]) for i in range(0, max(len(lines), 1), size)]
        assert content_hash(parts) == content_hash(whole)
