"""Writing a batch of units into PostgreSQL, inside the caller's transaction.

Two paths, one set of statements. The rows of the documents that win are COPied as text
straight into the canonical tables, after one set-based ``DELETE`` per table of the rows
of the stored documents they replace; ``sf_documents`` takes one ``INSERT … ON
CONFLICT``. Every line key extends its document key and the replaced document's rows are
gone, so a unique violation can only be a duplicate line inside one document: it becomes
the same ``constraint`` quarantine as on SQLite.

- Small units (decoded whole in one chunk, no document twice) are gathered into groups
  of up to ``chunk_rows`` rows, written with one lookup, one DELETE and one COPY per table
  under one savepoint: per-unit statements cost the server more than the rows of a small
  unit. When the server refuses the group's rows, the savepoint is rolled back and each
  of its units goes the per-unit path, which finds the unit to quarantine.
- Other units go one by one, each under its own savepoint (:class:`UnitWriter`), a chunk
  at a time. A document streamed in parts whose fate is known from its first part
  (nothing stored: it is written; an older version stored: it is skipped) is COPied part
  by part. One that may still turn out unchanged, or lose the hash tie-break at an equal
  version, is COPied into a temporary staging table instead, and moved with one ``INSERT
  … SELECT`` once its last part decides.

The replace/skip/stale decisions are the shared ones of :mod:`.semantics`, taken against
``sf_documents`` (looked up once per chunk or group, not once per document).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import asyncpg

from .._exceptions import PayloadError
from .base import LoadUnit
from .postgres_decode import Chunks, Decoder, Ident, Lookahead, Piece, Prefetched, provenance
from .schema import (
    CANONICAL_TABLES,
    SF_DOCUMENTS,
    SQL_TYPES,
    TABLES,
    DocSpec,
    Provenance,
    Table,
    timestamp_text,
)
from .semantics import Decision, StoredDoc, UnitStats, decide, is_stale_version

__all__ = ["Conn", "Outcome", "load_one", "load_units", "stage_statements"]

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
Outcome: TypeAlias = UnitStats | PayloadError
_DocRow: TypeAlias = tuple[str | None, ...]  # sf_documents, in _UPSERT_DOCS order
_Replace: TypeAlias = tuple[DocSpec, tuple[str, ...]]  # a stored document's key

# -- SQL ------------------------------------------------------------------------------------

_CASTS: Final = {"date": "::date", "timestamp": "::timestamptz", "json": "::jsonb"}


def _stage(table: Table) -> str:
    return f"sf_stage_{table.name}"


def _stage_columns(table: Table) -> str:
    return ", ".join(
        f"{c.name} {SQL_TYPES[c.type]['postgresql']}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    )


def stage_statements() -> list[str]:
    """The session's staging tables: temporary tables with the canonical tables' columns
    (spelled out: a new database has no canonical tables yet when the session starts)."""
    return [
        f"CREATE TEMP TABLE IF NOT EXISTS {_stage(t)} ({_stage_columns(t)})"
        for t in CANONICAL_TABLES
    ]


def _copy_from_stage(table: Table) -> str:
    columns = ", ".join(table.column_names)
    return f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {_stage(table)}"


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


_FROM_STAGE: Final = {t.name: _copy_from_stage(t) for t in CANONICAL_TABLES}
_LOOKUP_DOCS: Final = (
    "SELECT d.doc_type, d.doc_key, d.issued_at, d.control_number, d.content_hash "
    "FROM sf_documents d JOIN unnest($1::text[], $2::text[]) AS u(t, k) "
    "ON d.doc_type = u.t AND d.doc_key = u.k"
)
_UPSERT_DOCS: Final = (
    f"INSERT INTO sf_documents ({', '.join(SF_DOCUMENTS.column_names)}) "
    "SELECT t, k, i::timestamptz, c, h, j::jsonb, r, s, q FROM unnest("
    + ", ".join(f"${n}::text[]" for n in range(1, 10))
    + ") AS u(t, k, i, c, h, j, r, s, q) ON CONFLICT (doc_type, doc_key) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SF_DOCUMENTS.column_names[2:])
)

# -- statements -----------------------------------------------------------------------------


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """The server refusing a payload's rows is a PayloadError (the caller's savepoint
    makes the transaction usable again)."""
    try:
        yield
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.CardinalityViolationError) as e:
        raise PayloadError(f"rows violate the table's constraints: {e}", kind="constraint") from e
    except asyncpg.DataError as exc:
        # A value the column's type cannot parse (a decoder yielded "five").
        raise PayloadError(f"unstorable value: {exc}", kind="decoder_bug") from exc


async def _lookup(conn: Conn, idents: Collection[Ident]) -> dict[Ident, StoredDoc | None]:
    """The stored version of each document (None: not stored)."""
    found: dict[Ident, StoredDoc | None] = dict.fromkeys(idents)
    if not idents:
        return found
    types, keys = zip(*idents, strict=True)
    for r in await conn.fetch(_LOOKUP_DOCS, list(types), list(keys)):
        version = (timestamp_text(r["issued_at"]), r["control_number"])
        found[(r["doc_type"], r["doc_key"])] = StoredDoc(version, r["content_hash"])
    return found


async def _delete(conn: Conn, replaces: Sequence[_Replace]) -> None:
    """Delete every row of the stored documents ``replaces`` names."""
    by_spec: dict[DocSpec, list[tuple[str, ...]]] = {}
    for spec, key in replaces:
        by_spec.setdefault(spec, []).append(key)
    for spec, keys in by_spec.items():
        arrays = [list(column) for column in zip(*keys, strict=True)]
        for table in spec.tables:
            await conn.execute(_delete_docs(table, spec.key_columns), *arrays)


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


async def _copy(conn: Conn, buffer: dict[str, list[bytes]], *, staging: bool = False) -> None:
    """COPY each table's buffered text into it (or into its staging table)."""
    for name, parts in buffer.items():
        table = TABLES[name]
        target = _stage(table) if staging else name
        await conn.copy_to_table(
            target, source=_joined(parts), columns=list(table.column_names), format="text"
        )


async def _upsert_docs(conn: Conn, rows: Sequence[_DocRow]) -> None:
    if rows:
        await conn.execute(_UPSERT_DOCS, *[list(c) for c in zip(*rows, strict=True)])


def _doc_row(first: Piece, digest: str, prov: Provenance) -> _DocRow:
    return (*first.ident, *first.version, digest, first.codes, *prov)


def _add(buffer: dict[str, list[bytes]], piece: Piece) -> None:
    for table, data in piece.data.items():
        buffer.setdefault(table, []).append(data)


# -- one unit -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stream:
    piece: Piece  # the first part
    stored: StoredDoc | None
    skip: bool  # an older version than the stored one: its parts are only counted


class UnitWriter:
    """Writes one unit's documents inside the open transaction (the caller holds the
    unit's savepoint). Raises PayloadError when the payload's rows cannot be stored."""

    def __init__(self, conn: Conn, unit: LoadUnit, chunks: Chunks, chunk_rows: int) -> None:
        self._conn = conn
        self._chunks = chunks
        self._chunk = chunk_rows
        self._prov = provenance(unit)
        self._known: dict[Ident, StoredDoc | None] = {}  # as stored in the database now
        self._pending: dict[Ident, StoredDoc] = {}  # written, sf_documents not yet
        self._doc_rows: list[_DocRow] = []
        self._replaces: list[_Replace] = []
        self._buffer: dict[str, list[bytes]] = {}
        self._buffered = 0
        self._staging = False  # the buffer goes to the staging tables, not the canonical
        self._staged: set[str] = set()
        self._stream: _Stream | None = None
        self.stats = UnitStats()

    async def write(self) -> UnitStats:
        while chunk := await self._chunks.next():
            wanted = {
                p.ident
                for p in chunk
                if p.first and p.ident not in self._pending and p.ident not in self._known
            }
            self._known.update(await _lookup(self._conn, wanted))
            for piece in chunk:
                await self._piece(piece)
        await self._flush()
        return self.stats

    def _stored(self, ident: Ident) -> StoredDoc | None:
        pending = self._pending.get(ident)
        return pending if pending is not None else self._known[ident]

    async def _piece(self, p: Piece) -> None:
        self.stats.records += p.lines
        if not p.first:
            await self._part(p)
            return
        self.stats.documents += 1
        stored = self._stored(p.ident)
        if not p.last:
            await self._stream_start(p, stored)
            return
        assert p.digest is not None
        decision = decide(stored, p.version, p.digest)
        self.stats.stale_documents += decision is Decision.STALE
        if decision is not Decision.WRITE:
            return
        if p.ident in self._pending:
            await self._flush()  # the written version is now stored, and will be replaced
        self._add(p)
        self._remember(p, p.digest, stored)
        if self._buffered >= self._chunk:
            await self._flush()

    async def _stream_start(self, p: Piece, stored: StoredDoc | None) -> None:
        if is_stale_version(stored, p.version):
            self.stats.stale_documents += 1
            self._stream = _Stream(p, stored, skip=True)
            return
        # From here until its last part the buffer holds this document alone: its parts
        # are COPied as they come, and a staged document that loses is dropped whole.
        await self._flush()
        self._stream = _Stream(p, stored, skip=False)
        self._staging = stored is not None  # else it is written whatever its hash
        self._add(p)

    async def _part(self, p: Piece) -> None:
        stream = self._stream
        assert stream is not None
        if stream.skip:
            if p.last:
                self._stream = None
            return
        self._add(p)
        if self._buffered >= self._chunk:
            await self._copy()
        if not p.last:
            return
        self._stream = None
        assert p.digest is not None
        decision = decide(stream.stored, stream.piece.version, p.digest)
        if decision is Decision.WRITE:
            await self._copy()
            self._staging = False
            self._remember(stream.piece, p.digest, stream.stored)
            await self._flush()
            return
        assert self._staging  # with nothing stored the decision is WRITE
        self.stats.stale_documents += decision is Decision.STALE
        self._buffer, self._buffered, self._staging = {}, 0, False
        await self._truncate()

    def _remember(self, first: Piece, digest: str, stored: StoredDoc | None) -> None:
        if stored is not None:
            self._replaces.append((first.spec, first.key))
        self._pending[first.ident] = StoredDoc(first.version, digest)
        self._doc_rows.append(_doc_row(first, digest, self._prov))

    def _add(self, p: Piece) -> None:
        _add(self._buffer, p)
        self._buffered += p.rows

    async def _flush(self) -> None:
        """Replace the stored documents by everything buffered or staged, and record the
        documents in sf_documents."""
        with _refusals():
            await _delete(self._conn, self._replaces)
            self._replaces.clear()
            await self._copy()
            for table in sorted(self._staged):
                await self._conn.execute(_FROM_STAGE[table])
            await _upsert_docs(self._conn, self._doc_rows)
        await self._truncate()
        self._known.update(self._pending)
        self._pending.clear()
        self._doc_rows.clear()

    async def _copy(self) -> None:
        buffer, self._buffer, self._buffered = self._buffer, {}, 0
        with _refusals():
            await _copy(self._conn, buffer, staging=self._staging)
        if self._staging:
            self._staged.update(buffer)

    async def _truncate(self) -> None:
        if self._staged:
            tables = ", ".join(_stage(TABLES[t]) for t in sorted(self._staged))
            await self._conn.execute(f"TRUNCATE {tables}")
            self._staged.clear()


async def _write_unit(conn: Conn, unit: LoadUnit, chunks: Chunks, chunk_rows: int) -> Outcome:
    """One unit under its own savepoint: its stats, or the PayloadError that rolled it
    back. Closes ``chunks``."""
    try:
        savepoint = conn.transaction()
        await savepoint.start()
        try:
            stats = await UnitWriter(conn, unit, chunks, chunk_rows).write()
        except PayloadError as err:
            await savepoint.rollback()
            return err
    finally:
        chunks.close()
    await savepoint.commit()
    return stats


async def load_one(conn: Conn, unit: LoadUnit, chunk_rows: int) -> Outcome:
    """One unit, decoded a chunk at a time, under its own savepoint."""
    return await _write_unit(conn, unit, Decoder(unit, chunk_rows), chunk_rows)


# -- groups of small units ------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    index: int
    unit: LoadUnit
    pieces: list[Piece]


class _Group:
    """Small units written together; no document appears twice in a group."""

    def __init__(self, max_rows: int) -> None:
        self._max_rows = max_rows
        self.entries: list[_Entry] = []
        self._idents: set[Ident] = set()
        self._rows = 0

    def admits(self, pieces: list[Piece]) -> bool:
        rows = sum(p.rows for p in pieces)
        fits = not self.entries or self._rows + rows <= self._max_rows
        return fits and self._idents.isdisjoint(p.ident for p in pieces)

    def add(self, entry: _Entry) -> None:
        self.entries.append(entry)
        self._idents.update(p.ident for p in entry.pieces)
        self._rows += sum(p.rows for p in entry.pieces)

    def take(self) -> list[_Entry]:
        entries, self.entries = self.entries, []
        self._idents.clear()
        self._rows = 0
        return entries


def _groupable(pieces: list[Piece], exhausted: bool) -> bool:
    """A unit decoded whole in one chunk, of whole documents, none twice."""
    idents = [p.ident for p in pieces]
    return exhausted and all(p.whole for p in pieces) and len(set(idents)) == len(idents)


async def _write_group(conn: Conn, entries: list[_Entry]) -> list[UnitStats]:
    """Write a group's documents with one statement per kind; raises PayloadError when the
    server refuses some unit's rows (the caller rolls the group back)."""
    stored = await _lookup(conn, [p.ident for e in entries for p in e.pieces])
    buffer: dict[str, list[bytes]] = {}
    replaces: list[_Replace] = []
    doc_rows: list[_DocRow] = []
    stats = []
    for entry in entries:
        unit_stats = UnitStats()
        prov = provenance(entry.unit)
        for p in entry.pieces:
            assert p.digest is not None
            unit_stats.records += p.lines
            unit_stats.documents += 1
            decision = decide(stored[p.ident], p.version, p.digest)
            unit_stats.stale_documents += decision is Decision.STALE
            if decision is Decision.WRITE:
                _add(buffer, p)
                if stored[p.ident] is not None:
                    replaces.append((p.spec, p.key))
                doc_rows.append(_doc_row(p, p.digest, prov))
        stats.append(unit_stats)
    with _refusals():
        await _delete(conn, replaces)
        await _copy(conn, buffer)
        await _upsert_docs(conn, doc_rows)
    return stats


async def _flush_group(
    conn: Conn, group: _Group, chunk_rows: int, outcomes: dict[int, Outcome]
) -> None:
    """Write the group under one savepoint; if the server refuses its rows, each unit
    again under its own (which quarantines the ones at fault)."""
    entries = group.take()
    if not entries:
        return
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        stats = await _write_group(conn, entries)
    except PayloadError:
        await savepoint.rollback()
        for e in entries:
            outcomes[e.index] = await _write_unit(
                conn, e.unit, Prefetched(e.pieces, None), chunk_rows
            )
        return
    await savepoint.commit()
    for entry, unit_stats in zip(entries, stats, strict=True):
        outcomes[entry.index] = unit_stats


async def load_units(conn: Conn, units: Sequence[LoadUnit], chunk_rows: int) -> list[Outcome]:
    """Write ``units`` in the open transaction: each one's stats, or the PayloadError that
    keeps it out (decoder error, or rows the server refuses)."""
    outcomes: dict[int, Outcome] = {}
    group = _Group(chunk_rows)
    lookahead = Lookahead(units, chunk_rows)
    try:
        for index, unit, decoder in lookahead:
            try:
                first = await decoder.next()
            except PayloadError as err:  # from the decoder: nothing of the unit written
                decoder.close()
                outcomes[index] = err
                continue
            except BaseException:
                decoder.close()
                raise
            if _groupable(first, decoder.exhausted):
                decoder.close()
                if not group.admits(first):
                    await _flush_group(conn, group, chunk_rows, outcomes)
                group.add(_Entry(index, unit, first))
                continue
            chunks = Prefetched(first, decoder)
            try:
                await _flush_group(conn, group, chunk_rows, outcomes)
            except BaseException:
                chunks.close()
                raise
            outcomes[index] = await _write_unit(conn, unit, chunks, chunk_rows)
        await _flush_group(conn, group, chunk_rows, outcomes)
    finally:
        lookahead.close()
    return [outcomes[i] for i in range(len(units))]
