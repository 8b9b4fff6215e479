"""``reconcile --json`` as the database writes it is byte for byte the JSON of the rows.

The same rows go into SQLite and PostgreSQL with plain SQL (``test_dialects.py``'s, plus
values whose spelling is the hard part: floats that SQLite would write with 15 digits,
numerics with trailing zeros, tiny and 16-digit quantities PostgreSQL's text spells
otherwise than msgspec, strings with quotes, backslashes, control characters and
non-ASCII, a timestamp with microseconds), then the streamed answer is compared with
``msgspec.json.encode`` of the row answer (``answer``) for every filter.
"""

from __future__ import annotations

import dataclasses
import io
import sqlite3
from pathlib import Path

import asyncpg
import msgspec

from supplyfeed._cli.reconcile import SECTIONS, ReconcileOptions, answer
from supplyfeed._sink.reconcile_json import refresh_position_json, write_json
from supplyfeed._sink.reconcile_query import Filters, open_reader
from supplyfeed._sink.schema import create_statements

from .test_dialects import INV, NOW, PROV, ROWS, UNITS

HARD = [
    f"INSERT INTO inventory_positions ({INV}) VALUES "
    f"('S3', 'W9', '2026-11-28T07:50:00.250000Z', '{k}', {q}, {a}, '{u}', NULL, {PROV})"
    for k, q, a, u in [
        ("F1", "0.30000000000000004", "0.1", "EA"),  # SQLite's json_object: 0.3
        ("F2", "12.000", "12.5", "EA"),  # numeric 12.000 is the int 12
        ("F3", "0.0000001", "0.00001", "KG"),  # msgspec: 1e-7 and 0.00001
        ("F4", "1234567890123.4567", "2.5e-5", "KG"),  # 17 digits: a double's shortest text
        ("F5", "7", "NULL", "NULL"),
        ('q"uo\\te\x01\ttab é ✓', "1", "1", 'E"A'),
    ]
] + [
    "INSERT INTO po_ack_lines (supplier_id, po_number, ack_number, line_number, sku, "
    "ordered_qty, acked_qty, uom, unit_price, line_status, promised_date, codes, run_id, "
    "source_url, request_id, source) VALUES "
    f"('S3', 'P\"7', '1', '1', 'Z\\\\', 3.75, 0.5, 'EA', NULL, 'rejected', NULL, NULL, {PROV})",
]
FILTERS = [
    Filters(),
    Filters(sku="A"),
    Filters(sku="F1"),
    Filters(warehouse="W9"),
    Filters(supplier="S1", warehouse="W1"),
    Filters(supplier="nobody"),
]


def _statements(dialect: str) -> list[str]:
    return [*create_statements(dialect), *ROWS, *HARD]


async def _compare(url: str) -> None:
    """Spelled by the query, then again from the chunks a run's end keeps."""
    await _compare_once(url)
    reader = await open_reader(url, write=True)
    try:
        assert await refresh_position_json(reader) == 4  # S1/W1, S1/W2, S2/W1, S3/W9
        assert await refresh_position_json(reader) == 0  # all kept
    finally:
        await reader.close()
    await _compare_once(url)


async def _compare_once(url: str) -> None:
    for filters, units in [(f, UNITS) for f in FILTERS] + [(Filters(), ())]:
        options = ReconcileOptions(filters=filters, units=units, output="json", now=NOW)
        for sections in (SECTIONS, frozenset({"totals", "findings"}), frozenset({"findings"})):
            options = dataclasses.replace(options, sections=sections)
            rows = msgspec.json.encode(await answer(url, options)) + b"\n"
            out = io.BytesIO()
            await write_json(url, options, out)
            assert out.getvalue() == rows, (filters, sections)


async def test_the_streamed_json_is_the_rows_json_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "stream.db"
    conn = sqlite3.connect(path)
    for statement in _statements("sqlite"):
        conn.execute(statement)
    conn.commit()
    # The hard floats are REALs, as a decoder's floats are stored (the case sf_json_number is for).
    kinds = dict(conn.execute("SELECT sku, typeof(on_hand) FROM inventory_positions").fetchall())
    conn.close()
    assert kinds["F1"] == "real"
    assert kinds["F5"] == "integer"
    await _compare(f"sqlite:///{path}")


async def test_the_streamed_json_is_the_rows_json_on_postgresql(pg_database: str) -> None:
    pg = await asyncpg.connect(pg_database)
    try:
        for statement in _statements("postgresql"):
            await pg.execute(statement)
    finally:
        await pg.close()
    await _compare(pg_database)
