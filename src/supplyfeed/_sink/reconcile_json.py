"""``supplyfeed reconcile --json`` written by the database (issue 15, speed).

The large sections (``positions``, ``totals``, ``in_transit``, ``ack_exceptions``: 750k
rows unfiltered at 5M inventory rows) are never rows in Python: each is the statement
:mod:`reconcile_query` runs for the terminal, wrapped so that the database spells every
row as a JSON object and joins them with commas, and the text goes to the output as it
comes, one chunk per (supplier, warehouse) for the positions and one per section for the
rest. The small sections (``stale_partitions``, ``findings``: worded in Python) are
answered meanwhile on a second connection and encoded with msgspec.

The bytes are those of ``msgspec.json.encode(answer(...))`` followed by a newline
(tests/reconcile/test_json_stream.py compares them): keys in the section's column order,
no spaces, strings escaped alike (SQLite ``json_object``, PostgreSQL ``row_to_json``), and
numbers as the row path gives them:

- SQLite keeps quantities as sent: integers are written by ``json_object``; a REAL goes
  through ``sf_json_number`` (msgspec's own spelling: SQLite writes 15 digits).
- PostgreSQL's ``numeric`` is an int when integral, else a float (``reconcile_query``'s
  ``_plain``): an integral value is written truncated (``12.000`` -> ``12``); one of 15
  significant digits or fewer and at least 1e-5 is its trimmed decimal text (the shortest
  text of its double, as msgspec writes it); any other is marked
  ``{"\\u0001":"<float8 text>"}`` and rewritten here (never seen in practice; a chunk
  without the mark is passed on untouched).
- Timestamps are UTC text with ``Z`` (``schema.timestamp_text``), dates ISO text.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Final, Protocol

import msgspec

from .._config import UnitConversion
from .._exceptions import ConfigError, SinkError
from .findings_store import checkable, finding_rows
from .position_json import TABLE as KEPT_POSITIONS
from .reconcile_query import (
    Filters,
    Query,
    Reader,
    ack_exception_sql,
    in_transit_sql,
    open_reader,
    partition_position_sql,
    partition_rows,
    stale_partition_rows,
    total_sql,
)
from .views import current_of

__all__ = [
    "SECTION_COLUMNS",
    "SECTION_ORDER",
    "JsonOptions",
    "json_rows",
    "refresh_position_json",
    "refresh_positions",
    "section_queries",
    "write_json",
]


class JsonOptions(Protocol):
    """What the answer depends on (the command's ``ReconcileOptions``)."""

    @property
    def filters(self) -> Filters: ...
    @property
    def units(self) -> Sequence[UnitConversion]: ...
    @property
    def sla_seconds(self) -> float: ...
    @property
    def in_transit_days(self) -> int: ...
    @property
    def now(self) -> dt.datetime: ...
    @property
    def sections(self) -> frozenset[str]: ...


_log = logging.getLogger("supplyfeed.reconcile")

# Every section of the answer, in the order of the JSON's keys: the large ones (written
# by the database) first, then the small ones (worded in Python).
SECTION_ORDER: Final = (
    "positions", "totals", "in_transit", "ack_exceptions", "stale_partitions", "findings",
)  # fmt: skip

# Each large section's columns (in the JSON's order) and how a value is spelled.
SECTION_COLUMNS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "positions": (
        ("supplier_id", "text"), ("warehouse_id", "text"), ("sku", "text"),
        ("on_hand", "number"), ("available", "number"), ("uom", "text"),
        ("as_of", "timestamp"),
    ),
    "totals": (
        ("sku", "text"), ("uom", "text"), ("on_hand", "number"), ("available", "number"),
        ("warehouses", "number"),
    ),
    "in_transit": (
        ("supplier_id", "text"), ("asn_number", "text"), ("po_number", "text"),
        ("sku", "text"), ("quantity", "number"), ("uom", "text"), ("ship_date", "text"),
        ("expected_delivery", "text"),
    ),
    "ack_exceptions": (
        ("supplier_id", "text"), ("po_number", "text"), ("line_number", "text"),
        ("sku", "text"), ("ordered_qty", "number"), ("acked_qty", "number"),
        ("line_status", "text"), ("promised_date", "text"), ("reason", "text"),
    ),
}  # fmt: skip


def _sqlite_value(column: str, kind: str) -> str:
    if kind != "number":
        return f"r.{column}"
    c = f"r.{column}"
    return f"CASE WHEN typeof({c}) = 'real' THEN json(sf_json_number({c})) ELSE {c} END"


def _postgres_value(column: str, kind: str) -> str:
    c = f"r.{column}"
    if kind == "timestamp":
        # Whole seconds as the ISO text of the UTC time (the reader sets DateStyle ISO),
        # 2.5x cheaper than to_char; microseconds always six digits, as isoformat has them.
        return (
            f"CASE WHEN date_trunc('second', {c}) = {c} "
            f"THEN replace(({c} AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z' "
            f"""ELSE to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
        )
    if kind != "number":
        return c
    return (
        f"CASE WHEN {c} = trunc({c}) THEN to_json(trunc({c})) "
        f"WHEN abs({c}) >= 0.00001 AND {c}::float8::numeric = {c} THEN to_json(trim_scale({c})) "
        f"""ELSE ('{{"\\u0001":"' || {c}::float8::text || '"}}')::json END"""
    )


def json_rows(dialect: str, section: str) -> Callable[[str], str]:
    """A function of a statement (its rows in order, with ``section``'s columns) to the
    statement of one value: those rows as JSON objects joined by commas (NULL if none)."""
    columns = SECTION_COLUMNS[section]
    if dialect == "sqlite":
        pairs = ", ".join(f"'{c}', {_sqlite_value(c, k)}" for c, k in columns)
        # An aggregate over an ordered subquery reads it in order (SQLite does not
        # flatten a subquery with ORDER BY into an aggregate).
        return lambda sql: f"SELECT group_concat(json_object({pairs}), ',') FROM ({sql}) r"
    values = ", ".join(f"{_postgres_value(c, k)} AS {c}" for c, k in columns)
    return lambda sql: (
        "SELECT convert_to(string_agg(row_to_json(x)::text, ','), 'UTF8') "
        f"FROM (SELECT {values} FROM ({sql}) r) x"
    )


def section_queries(dialect: str, options: JsonOptions) -> list[tuple[str, Query]]:
    """The large sections, each as one statement whose rows are chunks of its JSON."""
    filters = options.filters
    positions = partition_position_sql(filters, json_rows(dialect, "positions"), KEPT_POSITIONS)
    rest = {
        "totals": total_sql(filters, options.units),
        "in_transit": in_transit_sql(filters, options.now.date(), options.in_transit_days),
        "ack_exceptions": ack_exception_sql(filters),
    }
    queries = [
        ("positions", positions),
        *((key, (json_rows(dialect, key)(sql), params)) for key, (sql, params) in rest.items()),
    ]
    return [(key, query) for key, query in queries if key in options.sections]


# A number no numeric text spells as msgspec does (PostgreSQL only): see the docstring.
_MARK: Final = b'{"\\u0001":"'
_MARKED: Final = re.compile(rb'\{"\\u0001":"([^"]*)"\}')


def _numbers_fixed(chunk: bytes) -> bytes:
    if _MARK not in chunk:
        return chunk
    return _MARKED.sub(lambda m: msgspec.json.encode(float(m[1])), chunk)


async def _streamed(reader: Reader, key: str, query: Query, out: BinaryIO) -> None:
    out.write(b'"' + key.encode() + b'":[')
    separator = b""
    async for chunk in reader.chunks(*query):
        out.write(separator)
        out.write(_numbers_fixed(chunk))
        separator = b","
    out.write(b"]")


async def _collected(url: str, key: str, query: Query) -> bytes:
    """A section asked on a connection of its own, kept until its turn in the output."""
    reader = await open_reader(url)
    try:
        chunks = [_numbers_fixed(chunk) async for chunk in reader.chunks(*query)]
    finally:
        await reader.close()
    return b'"' + key.encode() + b'":[' + b",".join(chunks) + b"]"


async def _small_sections(url: str, options: JsonOptions) -> bytes:
    found: dict[str, list[dict[str, Any]]] = {}
    reader = await open_reader(url)
    try:
        f = options.filters
        if "stale_partitions" in options.sections:
            found["stale_partitions"] = await stale_partition_rows(
                reader, f, options.now, options.sla_seconds
            )
        if "findings" in options.sections:
            found["findings"] = await finding_rows(reader, f, options.units)
    finally:
        await reader.close()
    return b",".join(b'"' + k.encode() + b'":' + msgspec.json.encode(v) for k, v in found.items())


async def write_json(url: str, options: JsonOptions, out: BinaryIO) -> None:
    """``reconcile --json``'s object and a newline to ``out`` (``options``: the command's
    ``ReconcileOptions``).

    The first section asked (the positions, the largest) is streamed as the database
    writes it; every other one is asked at the same time on a connection of its own, so
    the database works on them side by side (SQLite runs each in a thread of its own
    without the GIL, PostgreSQL in a backend of its own), and written in its turn."""
    reader = await open_reader(url)
    tasks: list[asyncio.Task[bytes]] = []
    try:
        queries = section_queries(reader.dialect, options)
        tasks = [asyncio.create_task(_collected(url, k, q)) for k, q in queries[1:]]
        tasks.append(asyncio.create_task(_small_sections(url, options)))
        out.write(b"{")
        if queries:
            await _streamed(reader, *queries[0], out)
        separator = b"," if queries else b""
        for task in tasks:
            if part := await task:
                out.write(separator + part)
                separator = b","
        out.write(b"}\n")
    finally:
        await reader.close()
        await _cancelled(tasks)


async def _cancelled(tasks: Sequence[asyncio.Task[bytes]]) -> None:
    """Stop the sections still being asked (after a failure) and wait for them to end."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


# -- the positions kept at a run's end (position_json.py) -------------------------------

# Chunks of a snapshot that is no longer the latest of its warehouse (all of the newer
# one's rows were dropped): never read, so not kept.
_KEPT_OBSOLETE: Final = (
    f"DELETE FROM {KEPT_POSITIONS} WHERE NOT EXISTS (SELECT 1 FROM inventory_latest l "
    f"WHERE {current_of('l', KEPT_POSITIONS)})"
)


async def refresh_positions(url: str) -> list[str]:
    """Keep the chunks of the database at ``url`` up to date at the end of a run
    (``Runner.run``); the run's warnings. A database that is not SQL has none to keep,
    and a failure is a warning (``reconcile`` spells what is missing itself)."""
    if not checkable(url):
        return []
    try:
        reader = await open_reader(url, write=True)
        try:
            await refresh_position_json(reader)
        finally:
            await reader.close()
    except (SinkError, ConfigError) as exc:
        message = f"current positions not kept for reconcile: {exc}"
        _log.warning(message)
        return [message]
    return []


async def refresh_position_json(reader: Reader) -> int:
    """Write the chunk of every latest snapshot that has none (those the run changed);
    the number written. ``reader`` may write (``open_reader(url, write=True)``)."""
    spelled = json_rows(reader.dialect, "positions")(partition_rows(""))
    missing = (
        f"INSERT INTO {KEPT_POSITIONS} (supplier_id, warehouse_id, as_of, json) "
        f"SELECT l.supplier_id, l.warehouse_id, l.as_of, ({spelled}) FROM inventory_latest l "
        f"WHERE NOT EXISTS (SELECT 1 FROM {KEPT_POSITIONS} c WHERE {current_of('l', 'c')})"
    )
    await reader.execute_many(_KEPT_OBSOLETE, [[]])
    return await reader.execute_many(missing, [[]])
