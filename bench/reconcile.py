"""``supplyfeed reconcile --json`` speed on SQLite and PostgreSQL (issue 15).

Fills a new database with SQL (no decoding, no sink: this measures the questions, not the
load): WAREHOUSES warehouses x SKUS SKUs x SNAPSHOTS snapshots of inventory, plus as many
ship notice lines and acknowledgment lines as ``--lines`` (a fifth of the ship notices
still in transit, a tenth of the acknowledgment lines exceptions). Then times the whole
answer of ``reconcile --json`` (every query, and the JSON encoding) with no filter and
with ``--sku``, median of ``--runs``.

The issue's target: 50 warehouses x 100k SKUs x 10 snapshots (5M rows) plus 200k ASN and
200k acknowledgment lines within 2 s. The default is a tenth of the SKUs; for the target:
``python -m bench reconcile -- --skus 100000 --lines 200000``. PostgreSQL runs on the
server of ``SUPPLYFEED_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
in a database of its own, dropped afterwards; ``--no-pg`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import msgspec

from supplyfeed._cli.reconcile import ReconcileOptions, answer
from supplyfeed._sink.reconcile_query import Filters
from supplyfeed._sink.schema import create_statements

ADMIN_URL = os.environ.get("SUPPLYFEED_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _fill_sql(warehouses: int, skus: int, snapshots: int, lines: int, series: str) -> list[str]:
    """INSERTs over a number series (``series`` renders one from 0 to n-1 as ``n(i)``)."""
    inventory = warehouses * skus * snapshots
    cols = "run_id, source_url, source"
    prov = "'bench', 'https://bench.example/feed', 'https://bench.example/feed'"
    return [
        f"{series.format(n=inventory)} INSERT INTO inventory_positions "
        f"(supplier_id, warehouse_id, as_of, sku, on_hand, available, uom, {cols}) "
        f"SELECT 'SUP' || (i % 5), 'W' || (i % {warehouses}), "
        f"{{as_of}}, 'SKU-' || (i / {warehouses} % {skus}), i % 500, i % 400, "
        f"CASE WHEN i % 7 = 0 THEN 'CA' ELSE 'EA' END, {prov} FROM n",
        f"{series.format(n=lines // 10)} INSERT INTO ship_notices "
        f"(supplier_id, asn_number, ship_date, expected_delivery, {cols}) "
        f"SELECT 'SUP' || (i % 5), 'ASN-' || i, {{ship}}, {{expected}}, {prov} FROM n",
        f"{series.format(n=lines)} INSERT INTO ship_notice_lines "
        f"(supplier_id, asn_number, line_seq, po_number, sku, shipped_qty, uom, {cols}) "
        f"SELECT 'SUP' || (i / 10 % 5), 'ASN-' || (i / 10), i % 10, 'PO-' || i, "
        f"'SKU-' || (i % {skus}), 1 + i % 50, 'EA', {prov} FROM n",
        f"{series.format(n=lines)} INSERT INTO po_ack_lines "
        f"(supplier_id, po_number, ack_number, line_number, sku, ordered_qty, acked_qty, "
        f"line_status, {cols}) "
        f"SELECT 'SUP' || (i % 5), 'PO-' || (i / 10), '1', '' || (i % 10), "
        f"'SKU-' || (i % {skus}), 10, CASE WHEN i % 10 = 0 THEN 4 ELSE 10 END, "
        f"CASE WHEN i % 20 = 0 THEN 'backordered' ELSE 'accepted' END, {prov} FROM n",
    ]


_SQLITE_SERIES = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {n} - 1)"
_SQLITE_DATES = {
    # snapshot k of a warehouse is k hours old; a fifth of the ASNs are still expected
    "as_of": "strftime('%Y-%m-%dT%H:00:00Z', 'now', '-' || (i / {per}) || ' hours')",
    "ship": "date('now', '-' || (i % 30) || ' days')",
    "expected": "date('now', '-' || (i % 30) || ' days', '+' || (i % 5 * 6) || ' days')",
}
_PG_SERIES = "WITH n(i) AS (SELECT generate_series(0, {n} - 1))"
_PG_DATES = {
    "as_of": "date_trunc('hour', now()) - (i / {per}) * interval '1 hour'",
    "ship": "current_date - (i % 30)",
    "expected": "current_date - (i % 30) + (i % 5 * 6)",
}


def _statements(args: argparse.Namespace, series: str, dates: dict[str, str]) -> list[str]:
    per = args.warehouses * args.skus  # rows per snapshot round
    values = {**dates, "as_of": dates["as_of"].format(per=per)}
    statements = _fill_sql(args.warehouses, args.skus, args.snapshots, args.lines, series)
    return [s.format(**values) for s in statements]


def _fill_sqlite(path: Path, args: argparse.Namespace) -> str:
    conn = sqlite3.connect(path)
    for statement in create_statements("sqlite"):
        conn.execute(statement)
    for statement in _statements(args, _SQLITE_SERIES, _SQLITE_DATES):
        conn.execute(statement)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return f"sqlite:///{path}"


async def _fill_postgres(url: str, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in create_statements("postgresql"):
            await conn.execute(statement)
        for statement in _statements(args, _PG_SERIES, _PG_DATES):
            await conn.execute(statement)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _time(url: str, filters: Filters, runs: int) -> tuple[float, int]:
    options = ReconcileOptions(filters=filters, output="json")
    walls, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = len(msgspec.json.encode(await answer(url, options)))
        walls.append(time.perf_counter() - started)
    return statistics.median(walls), size


async def _measure(name: str, url: str, args: argparse.Namespace) -> None:
    for label, filters in (("all", Filters()), ("--sku SKU-7", Filters(sku="SKU-7"))):
        wall, size = await _time(url, filters, args.runs)
        print(f"{name:<12} {label:<14} {wall:>10.3f} {size / 1e6:>10.1f}")


async def _postgres(args: argparse.Namespace) -> None:
    name = f"supplyfeed_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
        await _fill_postgres(url, args)
        await _measure("postgresql", url, args)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench reconcile --")
    p.add_argument("--warehouses", type=int, default=50)
    p.add_argument("--skus", type=int, default=10_000)
    p.add_argument("--snapshots", type=int, default=10)
    p.add_argument("--lines", type=int, default=200_000, help="ASN lines and ack lines each")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = p.parse_args(argv)
    rows = args.warehouses * args.skus * args.snapshots
    print(f"reconcile --json, {rows:,} inventory rows, {args.lines:,} ASN and ack lines each,")
    print(f"median of {args.runs} (seconds; JSON size in MB)\n")
    print(f"{'database':<12} {'filter':<14} {'wall s':>10} {'json MB':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        url = _fill_sqlite(Path(tmp) / "bench.db", args)
        asyncio.run(_measure("sqlite", url, args))
    if not args.no_pg:
        asyncio.run(_postgres(args))


if __name__ == "__main__":
    main()
