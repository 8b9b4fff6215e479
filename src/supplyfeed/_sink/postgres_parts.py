"""PostgreSQL: inventory snapshots made of parts, and the planner's bookkeeping (docs/contract.md
§6).

The loaders (postgres_load.py) hand every inventory part to :class:`PartWriter`. A part
the planner would only insert (a new part, or more of the delivery in progress, whose
SKUs no stored row and no row written earlier by the same writer has) takes the fast
path: its COPY text joins the buffer. So does a newer delivery of a part whose lines have
one copy each (no shadow in the snapshot, no other part holding an incoming SKU): the
plan is "its lines go, the new ones come", a deferred set-based DELETE before the COPY.
Any other part is decided line by line by :func:`~.semantics.plan_lines` on the stored
copies of its SKUs, and the plan is written at once. Whether a part collides is asked of
the server once per group or chunk (:meth:`PartWriter.probe`), not once per part.

The rows the database holds are read back in the SQLite storage values
(:func:`stored_values`), so the planner sees the same copies on both databases.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Final, TypeAlias

import asyncpg
import msgspec

from .base import PAGE_SUFFIX, Conflict, Delivery
from .schema import (
    INVENTORY_POSITIONS,
    SF_CONFLICTS,
    SF_DOCUMENTS,
    SF_INVENTORY_SHADOWS,
    TABLES,
    DocSpec,
    Row,
    Table,
    doc_key_text,
    timestamp_text,
)
from .semantics import (
    Bucket,
    Counts,
    LineCopy,
    LinePlan,
    PartAction,
    Recount,
    apply_recounts,
    checkpoint_counts,
    conflict_from_row,
    conflict_row,
    copy_from_row,
    copy_row,
    is_swept,
    line_conflicts,
    line_copies,
    plan_lines,
    plan_sweep,
    restore_counts,
    shadow_row,
    snapshot_of_part,
    swept_snapshots,
    unique_skus,
)

__all__ = [
    "Conn",
    "CopyBuffer",
    "Ledger",
    "PartWriter",
    "read_conflicts",
    "stored_values",
    "sweep_source",
]

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
Key: TypeAlias = tuple[str, ...]  # a snapshot: supplier, warehouse, as_of (ISO text)

_CASTS: Final = {
    "date": "::date",
    "timestamp": "::timestamptz",
    "json": "::jsonb",
    "numeric": "::numeric",
    "int": "::bigint",
}
_KEY: Final = "supplier_id = $1 AND warehouse_id = $2 AND as_of = $3::text::timestamptz"
_BUCKET_COLUMN: Final = {b: f"records_{b.value}" for b in Bucket}


def _upsert(table: Table) -> str:
    """Insert or replace rows that arrive as one text array per column."""
    n = len(table.columns)
    types = [c.type for c in table.columns]
    arrays = ", ".join(f"${i + 1}::text[]" for i in range(n))
    casts = ", ".join(f"u.c{i}{_CASTS.get(t, '')}" for i, t in enumerate(types))
    names = ", ".join(f"c{i}" for i in range(n))
    rest = [c for c in table.column_names if c not in table.primary_key]
    return (
        f"INSERT INTO {table.name} ({', '.join(table.column_names)}) SELECT {casts} "
        f"FROM unnest({arrays}) AS u({names}) "
        f"ON CONFLICT ({', '.join(table.primary_key)}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
    )


_UPSERT_ROWS: Final = _upsert(INVENTORY_POSITIONS)
_ADD_SHADOWS: Final = _upsert(SF_INVENTORY_SHADOWS)
_DELETE_ROWS: Final = f"DELETE FROM inventory_positions WHERE {_KEY} AND sku = ANY($4::text[])"
_DROP_SHADOWS: Final = (
    "DELETE FROM sf_inventory_shadows s USING unnest($4::text[], $5::text[], $6::text[], "
    "$7::text[]) AS u(k, src, url, h) WHERE s.supplier_id = $1 AND s.warehouse_id = $2 "
    "AND s.as_of = $3::text::timestamptz AND s.sku = u.k AND s.source = u.src "
    "AND s.source_url = u.url AND s.line_hash = u.h"
)
_COPIES: Final = f"SELECT * FROM inventory_positions WHERE {_KEY} AND sku = ANY($4::text[])"
# In key order, as SQLite reads them (the planner takes the first of equal copies).
_SHADOW_ORDER: Final = (
    'ORDER BY sku COLLATE "C", source COLLATE "C", source_url COLLATE "C", line_hash'
)
_SHADOWS: Final = (
    f"SELECT * FROM sf_inventory_shadows WHERE {_KEY} AND sku = ANY($4::text[]) {_SHADOW_ORDER}"
)
_ALL_COPIES: Final = f"SELECT * FROM inventory_positions WHERE {_KEY}"
_ALL_SHADOWS: Final = f"SELECT * FROM sf_inventory_shadows WHERE {_KEY} {_SHADOW_ORDER}"
_PART_SKUS: Final = (
    f"SELECT sku FROM inventory_positions WHERE {_KEY} AND source = $4 AND source_url = $5 "
    f"UNION SELECT sku FROM sf_inventory_shadows WHERE {_KEY} AND source = $4 AND source_url = $5"
)
# Which snapshots hold any line, and which of those any shadow: one query per group.
_PROBE_SNAPSHOTS: Final = (
    "SELECT u.i, EXISTS (SELECT 1 FROM sf_inventory_shadows s WHERE s.supplier_id = u.s "
    "AND s.warehouse_id = u.w AND s.as_of = u.a::timestamptz) "
    "FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(s, w, a, i) "
    "WHERE EXISTS (SELECT 1 FROM inventory_positions p WHERE p.supplier_id = u.s "
    "AND p.warehouse_id = u.w AND p.as_of = u.a::timestamptz)"
)
# The part holding each stored (snapshot, SKU) among the incoming ones.
_PROBE_LINES: Final = (
    "SELECT u.i, p.source, p.source_url FROM inventory_positions p "
    "JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY "
    "AS u(s, w, a, k, i) ON p.supplier_id = u.s AND p.warehouse_id = u.w "
    "AND p.as_of = u.a::timestamptz AND p.sku = u.k"
)
_DELETE_PARTS: Final = (
    "DELETE FROM inventory_positions p USING unnest($1::text[], $2::text[], $3::text[], "
    "$4::text[], $5::text[]) AS u(s, w, a, src, url) WHERE p.supplier_id = u.s "
    "AND p.warehouse_id = u.w AND p.as_of = u.a::timestamptz AND p.source = u.src "
    "AND p.source_url = u.url"
)
_CONFLICT_COLUMNS: Final = SF_CONFLICTS.column_names[1:]  # id is assigned
_ADD_CONFLICT: Final = (
    f"INSERT INTO sf_conflicts ({', '.join(_CONFLICT_COLUMNS)}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9, $10::text::jsonb, $11::text::timestamptz)"
)
_FORGET_PARTS: Final = (
    "DELETE FROM sf_documents WHERE doc_type = 'inventory_snapshot' AND doc_key = ANY($1::text[])"
)
_UPSERT_DOCS: Final = (
    f"INSERT INTO sf_documents ({', '.join(SF_DOCUMENTS.column_names)}) "
    "SELECT t, k, i::timestamptz, c, h, j::jsonb, r, u, q, s, n::int FROM unnest("
    + ", ".join(f"${n}::text[]" for n in range(1, 12))
    + ") AS x(t, k, i, c, h, j, r, u, q, s, n) ON CONFLICT (doc_type, doc_key) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SF_DOCUMENTS.column_names[2:])
)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _columns(rows: Sequence[Row]) -> list[list[str | None]]:
    """Rows as one text array per column (the unnest statements' parameters)."""
    return [[_text(v) for v in column] for column in zip(*rows, strict=True)]


_json_decode = msgspec.json.decode
_json_encode = msgspec.json.Encoder(order="sorted").encode


def stored_values(table: Table, record: asyncpg.Record) -> dict[str, Any]:
    """An asyncpg record -> the storage values SQLite returns: ISO text for dates and
    timestamps, int or float quantities, sorted-key compact JSON text, bytes."""
    out = dict(record.items())
    for col in table.columns:
        value = out.get(col.name)
        if value is None:
            continue
        if col.type == "timestamp":
            out[col.name] = timestamp_text(value)
        elif col.type == "date":
            out[col.name] = value.isoformat()
        elif col.type == "numeric" and isinstance(value, decimal.Decimal):
            exponent = value.as_tuple().exponent
            integral = isinstance(exponent, int) and exponent >= 0
            out[col.name] = int(value) if integral else float(value)
        elif col.type == "json":
            # jsonb keeps its own key order and spacing: back to sorted, compact text.
            out[col.name] = _json_encode(_json_decode(value)).decode()
        elif col.type == "blob":
            out[col.name] = bytes(value)
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Ledger:
    """The planner's bookkeeping in one transaction: conflicts stored, records of earlier
    units of the run moved between buckets (``in_flight``: the counts of this
    transaction's units, whose ledger rows are written at its end)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.in_flight: dict[str | None, Counts] = {}

    async def settle(
        self, conn: Conn, recounts: Sequence[Recount], conflicts: Sequence[Conflict]
    ) -> None:
        for r in apply_recounts(recounts, self.in_flight):
            out, into = _BUCKET_COLUMN[r.source], _BUCKET_COLUMN[r.to]
            await conn.execute(
                f"UPDATE sf_endpoints SET {out} = {out} - $1, {into} = {into} + $1 "
                "WHERE run_id = $2 AND request_id = $3",
                r.n,
                self.run_id,
                r.request_id,
            )
        if conflicts:
            now = _now()
            await conn.executemany(
                _ADD_CONFLICT, [conflict_row(c, self.run_id, now) for c in conflicts]
            )

    def checkpoint(self) -> dict[str | None, Counts]:
        """The in-flight counts as they are, for :meth:`restore` after a rollback."""
        return checkpoint_counts(self.in_flight)

    def restore(self, saved: dict[str | None, Counts]) -> None:
        restore_counts(self.in_flight, saved)


class CopyBuffer:
    """What one writer has decided but not yet sent: the rows of the stored documents and
    parts it replaces (deleted first), COPY text per table, and ``sf_documents`` rows."""

    def __init__(self) -> None:
        self.replaces: list[tuple[DocSpec, tuple[str, ...]]] = []  # whole documents
        self.parts: list[tuple[str, ...]] = []  # (*snapshot, source, source_url)
        self.data: dict[str, list[bytes]] = {}
        self.rows = 0
        self.docs: list[tuple[str | None, ...]] = []

    def add(self, data: dict[str, bytes], rows: int) -> None:
        for table, text in data.items():
            self.data.setdefault(table, []).append(text)
        self.rows += rows

    async def flush(self, conn: Conn) -> None:
        for spec, keys in _by_spec(self.replaces).items():
            arrays = [list(column) for column in zip(*keys, strict=True)]
            for table in spec.tables:
                await conn.execute(_delete_docs(table, spec.key_columns), *arrays)
        if self.parts:
            await conn.execute(_DELETE_PARTS, *_columns(self.parts))
        for name, parts in self.data.items():
            await conn.copy_to_table(
                name, source=_joined(parts), columns=list(TABLES[name].column_names), format="text"
            )
        if self.docs:
            await conn.execute(_UPSERT_DOCS, *[list(c) for c in zip(*self.docs, strict=True)])
        self.replaces, self.parts, self.data, self.rows, self.docs = [], [], {}, 0, []


def _by_spec(
    replaces: Iterable[tuple[DocSpec, tuple[str, ...]]],
) -> dict[DocSpec, list[tuple[str, ...]]]:
    out: dict[DocSpec, list[tuple[str, ...]]] = {}
    for spec, key in replaces:
        out.setdefault(spec, []).append(key)
    return out


def _delete_docs(table: Table, key_columns: tuple[str, ...]) -> str:
    """Delete every row of the documents whose keys arrive as parallel text arrays."""
    types = {c.name: c.type for c in table.columns}
    arrays = ", ".join(f"${i + 1}::text[]" for i in range(len(key_columns)))
    casts = ", ".join(f"u{i}{_CASTS.get(types[k], '')}" for i, k in enumerate(key_columns))
    names = ", ".join(f"u{i}" for i in range(len(key_columns)))
    return (
        f"DELETE FROM {table.name} WHERE ({', '.join(key_columns)}) IN "
        f"(SELECT {casts} FROM unnest({arrays}) AS u({names}))"
    )


async def _joined(parts: list[bytes], size: int = 1 << 20) -> AsyncIterator[bytes]:
    """``parts`` as COPY data messages of about ``size`` bytes."""
    group: list[bytes] = []
    held = 0
    for part in parts:
        group.append(part)
        held += len(part)
        if held >= size:
            yield b"".join(group)
            group, held = [], 0
    if group:
        yield b"".join(group)


@dataclasses.dataclass(slots=True)
class _Probed:
    """What the server held of the snapshots and lines a writer asked about."""

    snapshots: set[Key] = dataclasses.field(default_factory=set)  # asked
    nonempty: set[Key] = dataclasses.field(default_factory=set)
    shadowed: set[Key] = dataclasses.field(default_factory=set)  # any shadow stored
    lines: set[tuple[Key, str]] = dataclasses.field(default_factory=set)  # asked
    held: dict[tuple[Key, str], tuple[str, str]] = dataclasses.field(default_factory=dict)


class PartWriter:
    """Writes the parts of one writer (a group of units, or one unit); remembers which
    (snapshot, SKU) it wrote, since the server cannot see rows still in the buffer."""

    def __init__(self, conn: Conn, buffer: CopyBuffer, ledger: Ledger) -> None:
        self._conn = conn
        self._buffer = buffer
        self._ledger = ledger
        self._written: dict[Key, set[str]] = {}
        self._probed = _Probed()

    def forget(self) -> None:
        """The server's state changed behind the probes (a savepoint rolled back)."""
        self._probed = _Probed()

    async def probe(self, parts: Iterable[tuple[Key, Sequence[str]]]) -> None:
        """Ask the server, in one query each, which of the snapshots hold any line (and
        any shadow), and which of the incoming lines of the non-empty ones are stored."""
        parts = list(parts)
        known = self._probed
        keys = sorted({k for k, _ in parts} - known.snapshots)
        if keys:
            found = await self._conn.fetch(_PROBE_SNAPSHOTS, *_columns(keys))
            known.snapshots.update(keys)
            for r in found:
                key = keys[r[0] - 1]
                known.nonempty.add(key)
                if r[1]:
                    known.shadowed.add(key)
        lines = sorted(
            {(k, sku) for k, skus in parts if k in known.nonempty for sku in skus} - known.lines
        )
        if lines:
            params = _columns([(*k, sku) for k, sku in lines])
            for r in await self._conn.fetch(_PROBE_LINES, *params):
                known.held[lines[r[0] - 1]] = (r[1], r[2])
            known.lines.update(lines)

    async def write(
        self,
        key: Key,
        piece: tuple[Any, dict[str, bytes], int],
        action: PartAction,
        delivery: Delivery,
        counts: Counts,
        conflicts: list[Conflict],
        replaced_run: str | None = None,
    ) -> None:
        """One part (or one streamed chunk of it: ``piece`` is the document, its COPY
        text and its row count) that the planner said NEW, EXTEND or REPLACE
        (``replaced_run``: the run of the delivery it replaces); ``counts`` and
        ``conflicts`` receive its records' buckets."""
        doc, data, rows = piece
        skus = [item.sku for item in doc.items]
        if len(set(skus)) != len(skus):
            unique_skus(line_copies(doc, delivery))  # raises, naming the SKU
        if key not in self._probed.snapshots or key in self._probed.nonempty:
            await self.probe([(key, skus)])
        alone = action is PartAction.REPLACE and self._alone(key, delivery, replaced_run)
        replacing = delivery if alone else None
        if (action is not PartAction.REPLACE or alone) and not self._collides(key, skus, replacing):
            if alone:  # the planner's plan: the part's lines go, the new ones come
                self._buffer.parts.append((*key, delivery.source, delivery.page))
            self._buffer.add(data, rows)
            self._written.setdefault(key, set()).update(skus)
            counts.add(Bucket.LOADED, len(skus))
            return
        await self._buffer.flush(self._conn)
        replace = delivery if action is PartAction.REPLACE else None
        plan = await self._plan(key, line_copies(doc, delivery), replace)
        await apply_plan(self._conn, key, plan)
        self._written.setdefault(key, set()).update(c.sku for c in plan.upsert)
        if plan.add_shadows:
            self._probed.shadowed.add(key)
        for bucket in Bucket:
            counts.add(bucket, getattr(plan.counts, bucket.value))
        found = line_conflicts(doc_key_text(key), plan.conflicts)
        conflicts.extend(found)
        await self._ledger.settle(self._conn, plan.recounts, found)

    def _alone(self, key: Key, delivery: Delivery, replaced_run: str | None) -> bool:
        """A newer delivery of a part no other part shares a line with (no shadow in the
        snapshot, so every line has one copy). A part written earlier in this run
        (fetched again on resume) takes the planner's path, which recounts."""
        if replaced_run is None or replaced_run == delivery.run_id:
            return False
        return key not in self._probed.shadowed

    def _collides(self, key: Key, skus: list[str], replacing: Delivery | None) -> bool:
        """Whether any SKU of the part is already in the snapshot: written by this writer,
        or stored by another part (``replacing``: the part's own stored lines are about
        to go, so they do not count)."""
        written = self._written.get(key)
        if written is not None and not written.isdisjoint(skus):
            return True
        if key not in self._probed.nonempty:
            return False
        held = self._probed.held
        own = None if replacing is None else (replacing.source, replacing.page)
        return any((part := held.get((key, sku))) is not None and part != own for sku in skus)

    async def _plan(self, key: Key, incoming: list[LineCopy], replace: Delivery | None) -> LinePlan:
        """The planner's view: the table copies and shadows of every SKU the part touches
        (its incoming SKUs and, for a replacement, those of its earlier lines)."""
        skus = {c.sku for c in incoming}
        if replace is not None:
            params = (*key, replace.source, replace.page)
            skus.update(str(r[0]) for r in await self._conn.fetch(_PART_SKUS, *params))
        table, shadows = await read_copies(self._conn, key, skus)
        return plan_lines(incoming, table, shadows, replace=replace)


async def read_copies(
    conn: Conn, key: Key, skus: Iterable[str] | None = None
) -> tuple[dict[str, LineCopy], list[LineCopy]]:
    """One snapshot's table copies and shadows, of ``skus`` or of every line."""
    if skus is None:
        rows = await conn.fetch(_ALL_COPIES, *key)
        shadows = await conn.fetch(_ALL_SHADOWS, *key)
    else:
        listed = sorted(skus)
        rows = await conn.fetch(_COPIES, *key, listed)
        shadows = await conn.fetch(_SHADOWS, *key, listed)
    copies = [copy_from_row(stored_values(INVENTORY_POSITIONS, r)) for r in rows]
    return (
        {c.sku: c for c in copies},
        [copy_from_row(stored_values(SF_INVENTORY_SHADOWS, r)) for r in shadows],
    )


async def apply_plan(conn: Conn, key: Key, plan: LinePlan) -> None:
    """Write one snapshot's line plan: exactly the rows it names."""
    if plan.delete:
        await conn.execute(_DELETE_ROWS, *key, plan.delete)
    if plan.drop_shadows:
        dropped = [
            (c.sku, c.delivery.source, c.delivery.page, c.line_hash) for c in plan.drop_shadows
        ]
        await conn.execute(_DROP_SHADOWS, *key, *_columns(dropped))
    if plan.upsert:
        await conn.execute(_UPSERT_ROWS, *_columns([copy_row(key, c) for c in plan.upsert]))
    if plan.add_shadows:
        await conn.execute(_ADD_SHADOWS, *_columns([shadow_row(key, c) for c in plan.add_shadows]))


async def sweep_source(conn: Conn, run_id: str, source: str) -> int:
    """A paged source's delivery is complete (see :func:`~.semantics.plan_sweep`); the
    caller owns the transaction. Returns the table rows that changed."""
    ledger = await conn.fetch(
        "SELECT url, outcome FROM sf_endpoints WHERE run_id = $1 AND (endpoint_key = $2 OR "
        "left(endpoint_key, $3) = $4) AND outcome IN ('loaded', 'unchanged')",
        run_id,
        source,
        len(source) + len(PAGE_SUFFIX),
        source + PAGE_SUFFIX,
    )
    seen = {str(r[0]) for r in ledger}
    unchanged = {str(r[0]) for r in ledger if r[1] == "unchanged"}
    stored = [
        (str(r[0]), doc_key_text(snapshot_of_part(r[0])), Delivery(source, r[1], r[2], r[3]))
        for r in await conn.fetch(
            "SELECT doc_key, source_url, run_id, request_id FROM sf_documents "
            "WHERE doc_type = 'inventory_snapshot' AND source = $1",
            source,
        )
    ]
    parts = [(snap, d) for _, snap, d in stored]
    changed = 0
    for snap, kept in swept_snapshots(parts, run_id, seen, unchanged).items():
        key = snapshot_of_part(snap)
        table, shadows = await read_copies(conn, key)
        plan = plan_sweep(table, shadows, run_id, source, kept)
        await apply_plan(conn, key, plan)
        changed += len(plan.delete) + len(plan.upsert)
        gone = [k for k, s, d in stored if s == snap and is_swept(d, run_id, source, kept)]
        if gone:
            await conn.execute(_FORGET_PARTS, gone)
    return changed


async def read_conflicts(conn: Conn, run_id: str | None) -> list[Conflict]:
    where, params = ("WHERE run_id = $1", [run_id]) if run_id else ("", [])
    records = await conn.fetch(f"SELECT * FROM sf_conflicts {where} ORDER BY id", *params)
    return [conflict_from_row(stored_values(SF_CONFLICTS, r)) for r in records]
