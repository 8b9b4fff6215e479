"""The reconciliation queries (``supplyfeed reconcile``), run by the database.

Each answer is one SQL statement over the views of ``views.py``: the database filters,
joins, converts units and sums; Python only receives the answer. The statements are
written once with ``?`` placeholders; the PostgreSQL reader renumbers them ``$1..$n``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import msgspec

from .._config import UnitConversion
from .._exceptions import ConfigError, SinkError
from .schema import timestamp_text
from .views import current_of, in_transit_select

__all__ = [
    "Filters",
    "Query",
    "Reader",
    "ack_exception_rows",
    "ack_exception_sql",
    "in_transit_rows",
    "in_transit_sql",
    "open_reader",
    "partition_position_sql",
    "partition_rows",
    "position_rows",
    "stale_partition_rows",
    "top_position_rows",
    "total_rows",
    "total_sql",
    "where_clause",
]

Params = list[Any]
Query = tuple[str, Params]  # a statement and its parameters


@dataclass(frozen=True, slots=True)
class Filters:
    """What the operator asked about; ``None`` means every value."""

    sku: str | None = None
    warehouse: str | None = None
    supplier: str | None = None


class Reader(Protocol):
    dialect: str  # "sqlite" or "postgresql": the few spellings that differ

    async def fetch(self, sql: str, params: Params) -> list[dict[str, Any]]: ...

    def chunks(self, sql: str, params: Params) -> AsyncIterator[bytes]:
        """The first column of each row of ``sql``, as UTF-8 bytes, one row at a time
        (``NULL`` rows skipped): text the database built, passed on without a Python
        object per value (``reconcile_json.py``)."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        """Run ``sql`` once per row in one transaction; the rows it changed."""
        ...

    async def close(self) -> None: ...


def _plain(value: Any) -> Any:
    """The same JSON whatever the database: numbers as int or float, times as UTC text."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _SqliteReader:
    dialect = "sqlite"

    def __init__(self, path: str, *, write: bool = False) -> None:
        mode = "rw" if write else "ro"
        try:
            self._conn = sqlite3.connect(
                f"file:{path}?mode={mode}", uri=True, check_same_thread=False, timeout=30
            )
        except sqlite3.Error as exc:
            raise SinkError(f"cannot open {path}: {exc}") from exc
        # A REAL as JSON, spelled as msgspec spells it (SQLite's own json_object writes 15
        # digits): called only for REAL values, which quantities are when sent as floats.
        self._conn.create_function("sf_json_number", 1, _json_number, deterministic=True)

    async def fetch(self, sql: str, params: Params) -> list[dict[str, Any]]:
        args = [_sqlite_param(p) for p in params]
        return await asyncio.to_thread(self._fetch, sql, args)

    def _fetch(self, sql: str, args: Params) -> list[dict[str, Any]]:
        try:
            cursor = self._conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]
        except sqlite3.Error as exc:
            raise SinkError(f"reconcile query failed: {exc}") from exc

    async def chunks(self, sql: str, params: Params) -> AsyncIterator[bytes]:
        args = [_sqlite_param(p) for p in params]
        cursor = await asyncio.to_thread(self._cursor, sql, args)
        try:
            while (chunk := await asyncio.to_thread(self._next_chunk, cursor)) is not None:
                if chunk:
                    yield chunk
        finally:
            cursor.close()

    def _cursor(self, sql: str, args: Params) -> sqlite3.Cursor:
        try:
            cursor = self._conn.cursor()
            cursor.row_factory = _first_as_bytes
            return cursor.execute(sql, args)
        except sqlite3.Error as exc:
            raise SinkError(f"reconcile query failed: {exc}") from exc

    @staticmethod
    def _next_chunk(cursor: sqlite3.Cursor) -> bytes | None:
        try:
            row: bytes | None = cursor.fetchone()
        except sqlite3.Error as exc:
            raise SinkError(f"reconcile query failed: {exc}") from exc
        return row

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        return await asyncio.to_thread(self._execute_many, sql, rows)

    def _execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        try:
            with self._conn:
                rows_in = ([_sqlite_param(p) for p in r] for r in rows)
                return self._conn.executemany(sql, rows_in).rowcount
        except sqlite3.Error as exc:
            raise SinkError(f"write failed: {exc}") from exc

    async def close(self) -> None:
        self._conn.close()


def _json_number(value: Any) -> Any:
    return msgspec.json.encode(value).decode() if isinstance(value, float) else value


def _first_as_bytes(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> bytes:
    """A chunk: b"" for a NULL row (skipped), so that None still means "no more rows"."""
    value = row[0]
    return b"" if value is None else value.encode() if isinstance(value, str) else value


def _sqlite_param(value: Any) -> Any:
    # Dates and timestamps are ISO text in SQLite (schema.py).
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _PostgresReader:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Params) -> list[dict[str, Any]]:
        import asyncpg

        try:
            rows = await self._conn.fetch(_numbered(sql), *params)
        except (asyncpg.PostgresError, OSError) as exc:
            raise SinkError(f"reconcile query failed: {exc}") from exc
        return [{k: _plain(v) for k, v in row.items()} for row in rows]

    async def chunks(self, sql: str, params: Params) -> AsyncIterator[bytes]:
        import asyncpg

        try:
            async with self._conn.transaction(readonly=True):
                cursor = self._conn.cursor(_numbered(sql), *params, prefetch=1)
                async for row in cursor:
                    if row[0] is not None:
                        yield row[0]
        except (asyncpg.PostgresError, OSError) as exc:
            raise SinkError(f"reconcile query failed: {exc}") from exc

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        """Each row's command status (``INSERT 0 n``) gives the rows it changed."""
        import asyncpg

        changed = 0
        try:
            async with self._conn.transaction():
                for row in rows:
                    status = await self._conn.execute(_numbered(sql), *row)
                    changed += int(status.rsplit(" ", 1)[-1])
        except (asyncpg.PostgresError, OSError) as exc:
            raise SinkError(f"write failed: {exc}") from exc
        return changed

    async def close(self) -> None:
        await self._conn.close()


def _numbered(sql: str) -> str:
    """``?`` -> ``$1``, ``$2``...: no statement here has a ``?`` inside a literal."""
    parts = sql.split("?")
    return "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], 1)) + parts[-1]


async def open_reader(url: str, *, write: bool = False) -> Reader:
    """A connection to the database at ``url`` (its schema already created), read-only
    unless ``write`` (the run's findings, ``findings_store.py``)."""
    if url.startswith("sqlite:"):
        from .sqlite import sqlite_path

        return _SqliteReader(sqlite_path(url), write=write)
    if url.startswith(("postgresql:", "postgres:")):
        import asyncpg

        try:
            # For reconcile_json's text: floats as the shortest text that reads back as
            # the same double, timestamps as ISO text. No JIT: it compiled each JSON
            # expression for a 2.5 s answer it made 0.6 s slower (5M rows). Sorts and
            # groupings of 500k current rows in memory, not in files (the totals).
            settings = {"extra_float_digits": "3", "DateStyle": "ISO", "jit": "off",
                        "work_mem": "64MB"}  # fmt: skip
            conn = await asyncpg.connect(url, timeout=10, server_settings=settings)
            return _PostgresReader(conn)
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            raise SinkError(f"cannot connect to the database: {exc}") from exc
    raise ConfigError(f"reconcile reads a SQL database (sqlite:/// or postgresql://), not {url}")


def where_clause(
    filters: Filters, columns: Mapping[str, str], lead: str = "WHERE"
) -> tuple[str, Params]:
    """``WHERE`` (or ``AND``, as ``lead``) for the filters given that a query's rows can
    be narrowed by; ``columns`` names each filter's column."""
    asked = {"sku": filters.sku, "warehouse": filters.warehouse, "supplier": filters.supplier}
    clauses, params = [], []
    for name, value in asked.items():
        if value is not None and name in columns:
            clauses.append(f"{columns[name]} = ?")
            params.append(value)
    return (f" {lead} " + " AND ".join(clauses) if clauses else ""), params


_ALL: Final = {"sku": "sku", "warehouse": "warehouse_id", "supplier": "supplier_id"}
_NO_WAREHOUSE: Final = {"sku": "sku", "supplier": "supplier_id"}


async def position_rows(
    reader: Reader, filters: Filters, limit: int | None = None
) -> list[dict[str, Any]]:
    where, params = where_clause(filters, _ALL)
    cap = f" LIMIT {int(limit)}" if limit is not None else ""
    sql = (
        "SELECT supplier_id, warehouse_id, sku, on_hand, available, uom, as_of "
        f"FROM inventory_current{where} ORDER BY supplier_id, warehouse_id, sku{cap}"
    )
    return await reader.fetch(sql, params)


def partition_rows(sku: str) -> str:
    """The current positions of the ``inventory_latest`` row ``l``, in SKU order (primary
    key order: no sort), narrowed by ``sku`` (an ``AND`` clause, or "")."""
    return (
        "SELECT p.supplier_id, p.warehouse_id, p.sku, p.on_hand, p.available, p.uom, p.as_of "
        f"FROM inventory_positions p WHERE {current_of('l')}{sku} ORDER BY p.sku"
    )


def partition_position_sql(
    filters: Filters, aggregate: Callable[[str], str], kept: str | None = None
) -> Query:
    """The current positions one ``inventory_latest`` row at a time: one row per
    (supplier, warehouse), in order, whose value is ``aggregate`` of that partition's
    positions in SKU order (a subquery). The same rows and order as
    :func:`position_rows` without sorting 500k rows: each partition is read in primary-key
    order (supplier, warehouse, as_of, sku).

    ``kept``: a table of each partition's value as ``aggregate`` gave it
    (``position_json.py``), read instead where it has the partition, unless a SKU is
    asked (the table holds whole partitions)."""
    sku, sku_params = where_clause(filters, {"sku": "p.sku"}, "AND")
    where, params = where_clause(
        filters, {"warehouse": "l.warehouse_id", "supplier": "l.supplier_id"}
    )
    value, join = f"({aggregate(partition_rows(sku))})", ""
    if kept is not None and filters.sku is None:
        value = f"coalesce(c.json, {value})"
        join = f" LEFT JOIN {kept} c ON {current_of('l', 'c')}"
    sql = (
        f"SELECT {value} FROM inventory_latest l{join}{where} "
        "ORDER BY l.supplier_id, l.warehouse_id"
    )
    return sql, sku_params + params


async def top_position_rows(reader: Reader, per_warehouse: int) -> list[dict[str, Any]]:
    """The ``per_warehouse`` largest current positions (on hand) of each warehouse."""
    sql = (
        "SELECT supplier_id, warehouse_id, sku, on_hand, available, uom, as_of FROM ("
        "SELECT c.*, row_number() OVER (PARTITION BY supplier_id, warehouse_id "
        "ORDER BY on_hand DESC, sku) AS rank FROM inventory_current c) ranked "
        f"WHERE rank <= {int(per_warehouse)} ORDER BY supplier_id, warehouse_id, rank"
    )
    return await reader.fetch(sql, [])


def _conversions(table: Sequence[UnitConversion]) -> tuple[str, Params]:
    """The conversion table as a CTE. Factors are numbers checked by the feeds file
    parser, so they are written as literals: a bare parameter would have no type in
    PostgreSQL's arithmetic."""
    head = (
        "SELECT CAST(NULL AS TEXT) AS supplier_id, CAST(NULL AS TEXT) AS from_uom, "
        "CAST(NULL AS TEXT) AS to_uom, 1 AS factor WHERE 1 = 0"
    )
    rows, params = [head], []
    for c in table:
        rows.append(f"SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), {c.factor!r}")
        params += [c.supplier_id, c.from_uom, c.to_uom]
    return "conv AS (" + " UNION ALL ".join(rows) + ")", params


async def total_rows(
    reader: Reader, filters: Filters, table: Sequence[UnitConversion]
) -> list[dict[str, Any]]:
    return await reader.fetch(*total_sql(filters, table))


def total_sql(filters: Filters, table: Sequence[UnitConversion]) -> Query:
    """Per SKU and unit: a supplier's own conversion first, then the global one, else the
    unit as reported. Units without a conversion are never added to each other. With no
    table every unit is as reported, and the joins are left out (at 500k current rows
    they were a third of PostgreSQL's 1.5 s)."""
    where, filter_params = where_clause(filters, {f: f"p.{c}" for f, c in _ALL.items()})
    if not table:
        return _totals_sql("", "p.uom", "", "", where), filter_params
    cte, params = _conversions(table)
    joins = (
        " LEFT JOIN conv s ON s.supplier_id = p.supplier_id AND s.from_uom = p.uom "
        "LEFT JOIN conv g ON g.supplier_id = '' AND g.from_uom = p.uom"
    )
    unit, factor = "coalesce(s.to_uom, g.to_uom, p.uom)", " * coalesce(s.factor, g.factor, 1)"
    return _totals_sql(f"WITH {cte} ", unit, factor, joins, where), params + filter_params


def _totals_sql(cte: str, unit: str, factor: str, joins: str, where: str) -> str:
    return (
        f"{cte}SELECT p.sku AS sku, {unit} AS uom, sum(p.on_hand{factor}) AS on_hand, "
        f"sum(p.available{factor}) AS available, count(*) AS warehouses "
        f"FROM inventory_current p{joins}{where} "
        f"GROUP BY p.sku, {unit} ORDER BY p.sku, {unit} IS NULL, {unit}"
    )


async def in_transit_rows(
    reader: Reader, filters: Filters, today: dt.date, days: int
) -> list[dict[str, Any]]:
    return await reader.fetch(*in_transit_sql(filters, today, days))


def in_transit_sql(filters: Filters, today: dt.date, days: int) -> Query:
    where, params = where_clause(filters, _NO_WAREHOUSE)
    sql = (
        "SELECT supplier_id, asn_number, po_number, sku, quantity, uom, ship_date, "
        f"expected_delivery FROM ({in_transit_select('?', '?')}) t{where} "
        # NULLs sort first in SQLite and last in PostgreSQL: put them last in both.
        "ORDER BY expected_delivery IS NULL, expected_delivery, supplier_id, asn_number, line_seq"
    )
    return sql, [today, today - dt.timedelta(days=days), *params]


async def ack_exception_rows(reader: Reader, filters: Filters) -> list[dict[str, Any]]:
    return await reader.fetch(*ack_exception_sql(filters))


def ack_exception_sql(filters: Filters) -> Query:
    where, params = where_clause(filters, _NO_WAREHOUSE)
    sql = (
        "SELECT supplier_id, po_number, line_number, sku, ordered_qty, acked_qty, "
        f"line_status, promised_date, reason FROM ack_exceptions{where} "
        "ORDER BY supplier_id, po_number, ack_number, line_number"
    )
    return sql, params


async def stale_partition_rows(
    reader: Reader, filters: Filters, now: dt.datetime, sla_seconds: float
) -> list[dict[str, Any]]:
    """(supplier, warehouse) whose latest snapshot is older than the SLA."""
    where, params = where_clause(filters, {"warehouse": "warehouse_id", "supplier": "supplier_id"})
    cutoff = now - dt.timedelta(seconds=sla_seconds)
    sql = (
        "SELECT supplier_id, warehouse_id, as_of FROM inventory_latest WHERE as_of < ?"
        f"{where.replace(' WHERE ', ' AND ')} ORDER BY supplier_id, warehouse_id"
    )
    rows = await reader.fetch(sql, [cutoff, *params])
    for row in rows:
        as_of = dt.datetime.fromisoformat(row["as_of"])
        row["age_seconds"] = round((now - as_of).total_seconds(), 3)
    return rows
