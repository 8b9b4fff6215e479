"""Every reconcile answer is the same on SQLite and PostgreSQL for the same rows.

The rows go in with plain SQL (the same statements on both), so this pins the queries'
dialect handling (dates, timestamps, numeric types, the ``?`` -> ``$n`` renumbering, the
GS1 check digit, the uom CTE) independently of either sink's load path.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

from supplyfeed._cli.reconcile import ReconcileOptions, answer
from supplyfeed._config import UnitConversion
from supplyfeed._sink.reconcile_query import Filters
from supplyfeed._sink.schema import create_statements

NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
PROV = "'run', 'https://s.example/feed', NULL, 'https://s.example/feed'"
INV = "supplier_id, warehouse_id, as_of, sku, on_hand, available, uom, codes, run_id, " \
      "source_url, request_id, source"  # fmt: skip
TAIL = "codes, run_id, source_url, request_id, source"
# (warehouse, as_of, run) of source 'src''s parts in sf_documents
PARTS = [
    ("W1", "2026-11-28T06:00:00Z", "r1"),
    ("W3", "2026-11-28T06:00:00Z", "r1"),
    ("W1", "2026-11-28T07:30:00Z", "r2"),
]
ROWS = [
    *(
        f"INSERT INTO inventory_positions ({INV}) VALUES "
        f"('{s}', '{w}', '{t}', '{k}', {q}, {a}, '{u}', NULL, {PROV})"
        for s, w, t, k, q, a, u in [
            ("S1", "W1", "2026-11-28T06:00:00Z", "A", 50, 50, "EA"),  # history
            ("S1", "W1", "2026-11-28T07:30:00Z", "A", 2, 2, "CA"),
            ("S1", "W1", "2026-11-28T07:30:00Z", "B", 5, 9, "EA"),  # available > on_hand
            ("S1", "W2", "2026-11-28T05:00:00Z", "A", 7, 7, "EA"),  # stale
            ("S2", "W1", "2026-11-28T07:45:00Z", "A", -1, 0, "BX"),  # negative, unknown unit
            ("S2", "W1", "2026-11-28T07:45:00Z", "C", 3, 3, "PK"),
        ]
    ),
    "INSERT INTO ship_notices (supplier_id, asn_number, ship_date, expected_delivery, carrier, "
    f"tracking_number, ship_from, ship_to, issued_at, control_number, {TAIL}) VALUES "
    f"('S1', 'N1', '2026-11-27', '2026-11-30', NULL, NULL, NULL, NULL, NULL, NULL, NULL, {PROV}),"
    f"('S1', 'N2', '2026-11-20', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, {PROV}),"
    f"('S2', 'N3', '2026-11-27', '2026-11-26', NULL, NULL, NULL, NULL, NULL, NULL, NULL, {PROV})",
    "INSERT INTO ship_notice_lines (supplier_id, asn_number, line_seq, po_number, "
    f"po_line_number, sku, shipped_qty, uom, container_id, lot, {TAIL}) VALUES "
    f"('S1', 'N1', 1, 'P1', '1', 'A', 12, 'EA', '106141411928374657', NULL, NULL, {PROV}),"
    f"('S1', 'N2', 1, 'P1', '1', 'A', 3, 'EA', '106141411928374650', NULL, NULL, {PROV}),"
    f"('S2', 'N3', 1, 'P9', '1', 'C', 1, 'PK', NULL, NULL, NULL, {PROV})",
    "INSERT INTO po_ack_lines (supplier_id, po_number, ack_number, line_number, sku, "
    f"ordered_qty, acked_qty, uom, unit_price, line_status, promised_date, {TAIL}) VALUES "
    f"('S1', 'P1', '1', '1', 'A', 20, 12, 'EA', 1.5, 'accepted', '2026-12-01', NULL, {PROV}),"
    f"('S1', 'P1', '1', '2', 'B', 5, 0, 'EA', NULL, 'backordered', NULL, NULL, {PROV}),"
    f"('S1', 'P1', '1', '3', 'C', 5, 5, 'EA', NULL, 'accepted', NULL, NULL, {PROV}),"
    # a codes field claiming a GTIN (a wrong check digit), a negative acknowledged quantity
    f"('S1', 'P1', '1', '4', 'D', 2.5, -1, 'EA', NULL, 'accepted', NULL, "
    f'\'{{"gtin": "4006381333932"}}\', {PROV})',
    # source 'src' reported W1 and W3 in run r1, then W1 alone in r2: W3's part is missing
    "INSERT INTO sf_runs (run_id, started_at, status, feeds, summary) VALUES "
    "('r1', '2026-11-28T06:00:00Z', 'finished', 'f', '{}'), "
    "('r2', '2026-11-28T07:00:00Z', 'finished', 'f', '{}')",
    "INSERT INTO sf_documents (doc_type, doc_key, content_hash, run_id, source_url, source, "
    "records) VALUES "
    + ", ".join(
        f'(\'inventory_snapshot\', \'["S1","{w}","{t}","src","src"]\', \'h{n}\', '
        f"'{r}', 'src', 'src', 1)"
        for n, (w, t, r) in enumerate(PARTS)
    ),
    "INSERT INTO sf_endpoints (run_id, endpoint_key, supplier_id, kind, format, url, outcome, "
    "attempts, permanent, bytes, records, documents, stale_documents, elapsed, retry_history, "
    "records_loaded, records_unchanged, records_stale, records_superseded, records_conflict) "
    "VALUES ('r2', 'src', 'S1', 'inventory_snapshot', 'json', 'src', 'loaded', 1, '0', 0, 1, "
    "1, 0, 0.0, '[]', 1, 0, 0, 0, 0)",
]
UNITS = [UnitConversion("", "CA", "EA", 12), UnitConversion("S2", "PK", "EA", 6)]


async def answers(url: str) -> list[dict[str, list[dict[str, Any]]]]:
    found = []
    for filters in (Filters(), Filters(sku="A"), Filters(supplier="S1", warehouse="W1")):
        options = ReconcileOptions(filters=filters, units=UNITS, output="json", now=NOW)
        found.append(await answer(url, options))
    return found


async def test_sqlite_and_postgresql_give_the_same_answers(
    tmp_path: Path, pg_database: str
) -> None:
    """The same rows give the same JSON on both databases, with and without filters,
    and every section has something in it (so the comparison compares something)."""
    path = tmp_path / "same.db"
    conn = sqlite3.connect(path)
    for statement in [*create_statements("sqlite"), *ROWS]:
        conn.execute(statement)
    conn.commit()
    conn.close()
    pg = await asyncpg.connect(pg_database)
    try:
        for statement in [*create_statements("postgresql"), *ROWS]:
            await pg.execute(statement)
    finally:
        await pg.close()
    on_sqlite = await answers(f"sqlite:///{path}")
    assert on_sqlite == await answers(pg_database)
    assert all(on_sqlite[0][key] for key in on_sqlite[0])
    totals = {(t["sku"], t["uom"]): t["on_hand"] for t in on_sqlite[0]["totals"]}
    assert totals == {("A", "EA"): 31, ("A", "BX"): -1, ("B", "EA"): 5, ("C", "EA"): 18}
    assert sorted({f["rule"] for f in on_sqlite[0]["findings"]}) == [
        "available_exceeds_on_hand", "delivery_before_ship", "gtin_check_digit",
        "negative_quantity", "part_missing", "shipped_exceeds_acknowledged",
        "sscc_check_digit", "unknown_uom",
    ]  # fmt: skip
