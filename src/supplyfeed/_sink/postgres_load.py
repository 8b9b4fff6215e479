"""Writing a batch of units into PostgreSQL, inside the caller's transaction.

Every document goes through the shared planner of :mod:`.semantics` (docs/contract.md §6): a whole
acknowledgment or ship notice by ``plan_document``, an inventory part by ``plan_part``
and, when it meets stored copies of its lines, ``plan_lines`` (postgres_parts.py). The
stored state is looked up in ``sf_documents`` once per chunk or group, not per document.
The rows of the documents that win are COPied as text straight into the canonical
tables, after one set-based ``DELETE`` per table of the rows of the stored documents
they replace; ``sf_documents`` takes one ``INSERT … ON CONFLICT``. A unique violation can
only be a duplicate line inside one document: it becomes the same ``constraint``
quarantine as on SQLite.

- Small units (decoded whole in one chunk, no document twice) are gathered into groups
  of up to ``chunk_rows`` rows, written with one lookup, one probe of the snapshots they
  touch, one DELETE and one COPY per table under one savepoint: per-unit statements cost
  the server more than the rows of a small unit. When the server refuses the group's
  rows, the savepoint is rolled back and each of its units goes the per-unit path, which
  finds the unit to quarantine.
- Other units go one by one, each under its own savepoint (:class:`UnitWriter`), a chunk
  at a time. A snapshot part streamed in chunks is written as it arrives (an older
  version than the stored one is only counted) under a savepoint of its own, rolled back
  if its last chunk shows it unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import asyncpg

from .._exceptions import PayloadError
from .._models import InventorySnapshot
from .base import Conflict, Delivery, LoadUnit
from .postgres_decode import Chunks, Decoder, Ident, Lookahead, Piece, Prefetched
from .postgres_parts import Conn, CopyBuffer, Ledger, PartWriter, stored_values
from .schema import Provenance, rows_for, timestamp_text
from .semantics import (
    Bucket,
    Counts,
    DocAction,
    PartAction,
    StoredDoc,
    UnitStats,
    delivery_of,
    is_stale_version,
    part_records,
    plan_document,
    plan_part,
    provenance,
)

__all__ = ["Conn", "Ledger", "UnitOutcome", "load_one", "load_units"]

# what loading one unit gave: its counts, or the payload error that quarantines it
UnitOutcome: TypeAlias = UnitStats | PayloadError

_LOOKUP_DOCS: Final = (
    "SELECT d.doc_type, d.doc_key, d.issued_at, d.control_number, d.content_hash, "
    "d.source, d.source_url, d.run_id, d.request_id, d.records "
    "FROM sf_documents d JOIN unnest($1::text[], $2::text[]) AS u(t, k) "
    "ON d.doc_type = u.t AND d.doc_key = u.k"
)
_PART_BUCKET: Final = {PartAction.UNCHANGED: Bucket.UNCHANGED, PartAction.STALE: Bucket.STALE}

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
    """The stored state of each document or part (None: not stored)."""
    found: dict[Ident, StoredDoc | None] = dict.fromkeys(idents)
    if not idents:
        return found
    types, keys = zip(*idents, strict=True)
    for r in await conn.fetch(_LOOKUP_DOCS, list(types), list(keys)):
        version = (timestamp_text(r["issued_at"]), r["control_number"])
        delivery = Delivery(r["source"], r["source_url"], r["run_id"], r["request_id"])
        stored = StoredDoc(version, r["content_hash"], delivery, r["records"])
        found[(r["doc_type"], r["doc_key"])] = stored
    return found


# -- one writer: the planner's decisions, buffered -------------------------------------------


class DocWriter:
    """Carries out the planner's decision for each document of one group of units or of
    one unit. What it buffered reaches the server at :meth:`flush`."""

    def __init__(self, conn: Conn, ledger: Ledger) -> None:
        self._conn = conn
        self.ledger = ledger
        self.buffer = CopyBuffer()
        self.parts = PartWriter(conn, self.buffer, ledger)
        self._known: dict[Ident, StoredDoc | None] = {}  # as stored before this writer
        self._pending: dict[Ident, StoredDoc] = {}  # written by it, maybe not yet sent

    async def lookup(self, pieces: Sequence[Piece]) -> None:
        """Look up the stored state of the documents ``pieces`` start, and probe the
        snapshots their parts belong to, one query each."""
        wanted = {
            p.ident
            for p in pieces
            if p.first and p.ident not in self._pending and p.ident not in self._known
        }
        self._known.update(await _lookup(self._conn, wanted))
        await self.parts.probe(
            (p.key, [i.sku for i in p.doc.items])
            for p in pieces
            if isinstance(p.doc, InventorySnapshot) and not self._unchanged(p)
        )

    def _unchanged(self, p: Piece) -> bool:
        """A whole part with the stored content: no line of it is written, none probed."""
        if not p.first or p.digest is None:
            return False
        stored = self.stored(p.ident)
        return stored is not None and stored.content_hash == p.digest

    def stored(self, ident: Ident) -> StoredDoc | None:
        pending = self._pending.get(ident)
        return pending if pending is not None else self._known[ident]

    def begin(self, unit: LoadUnit, stats: UnitStats) -> None:
        """The unit's records may be recounted by a later document of this transaction."""
        self.ledger.in_flight[unit.record.request_id] = stats.counts

    async def whole(self, p: Piece, unit: LoadUnit, stats: UnitStats) -> None:
        """A document decoded whole: an acknowledgment, a ship notice or a snapshot part."""
        assert p.digest is not None
        delivery, stored = delivery_of(unit), self.stored(p.ident)
        if isinstance(p.doc, InventorySnapshot):
            action = plan_part(stored, p.version, p.digest, delivery, paged=unit.paged)
            if action in _PART_BUCKET:
                stats.counts.add(_PART_BUCKET[action], p.lines)
                stats.stale_documents += action is PartAction.STALE
                return
            if p.ident in self._pending:  # one sf_documents row per statement
                await self.flush()
            replaced = stored.delivery.run_id if stored and stored.delivery else None
            piece = (p.doc, p.data, p.rows)
            await self.parts.write(
                p.key, piece, action, delivery, stats.counts, stats.conflicts, replaced
            )
            records = part_records(stored, delivery, p.lines)
            self.wrote(p, StoredDoc(p.version, p.digest, delivery, records), unit)
            return
        plan = plan_document(stored, p.version, p.digest, delivery)
        stats.counts.add(plan.bucket, p.lines)
        stats.stale_documents += plan.action is DocAction.STALE
        conflicts = []
        if plan.conflict and stored is not None:
            conflicts.append(await self._conflict(p, stored, delivery, plan.action))
        if plan.action is DocAction.WRITE:
            if p.ident in self._pending:  # written by this writer: its rows go now
                await self.flush()
            if stored is not None:
                self.buffer.replaces.append((p.spec, p.key))
            self.buffer.add(p.data, p.rows)
            self.wrote(p, StoredDoc(p.version, p.digest, delivery, p.lines), unit)
        stats.conflicts.extend(conflicts)
        await self.ledger.settle(self._conn, [plan.recount] if plan.recount else [], conflicts)

    def wrote(self, first: Piece, stored: StoredDoc, unit: LoadUnit) -> None:
        self._pending[first.ident] = stored  # a later duplicate must see this write
        prov: Provenance = provenance(unit)
        digest, records = stored.content_hash, str(stored.records)
        self.buffer.docs.append(
            (*first.ident, *stored.version, digest, first.codes, *prov, records)
        )

    async def _conflict(
        self, p: Piece, stored: StoredDoc, delivery: Delivery, action: DocAction
    ) -> Conflict:
        await self.flush()
        assert p.digest is not None
        ours = {"content_hash": p.digest, "rows": rows_for(p.doc)}
        theirs = {"content_hash": stored.content_hash, "rows": await self._rows_of(p)}
        other = stored.delivery or delivery
        doc_type, doc_key = p.ident
        if action is DocAction.WRITE:
            return Conflict(doc_type, doc_key, None, delivery, ours, other, theirs)
        return Conflict(doc_type, doc_key, None, other, theirs, delivery, ours)

    async def _rows_of(self, p: Piece) -> dict[str, list[list[Any]]]:
        """The stored document's rows, in the storage values SQLite keeps."""
        where = " AND ".join(f"{c} = ${i + 1}" for i, c in enumerate(p.spec.key_columns))
        out = {}
        for t in p.spec.tables:
            records = await self._conn.fetch(f"SELECT * FROM {t.name} WHERE {where}", *p.key)
            out[t.name] = [list(stored_values(t, r).values()) for r in records]
        return out

    async def flush(self) -> None:
        """Send everything decided: deletes, COPY, ``sf_documents``."""
        await self.buffer.flush(self._conn)
        self._known.update(self._pending)
        self._pending.clear()


# -- one unit -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stream:
    """A snapshot part arriving in chunks."""

    first: Piece
    stored: StoredDoc | None
    skip: bool  # an older version than the stored one: its chunks are only counted
    action: PartAction = PartAction.EXTEND
    savepoint: Any = None
    saved: dict[str | None, Counts] = field(default_factory=dict)  # in-flight counts before
    n: int = 0
    counts: Counts = field(default_factory=Counts)
    conflicts: list[Conflict] = field(default_factory=list)


class UnitWriter:
    """Writes one unit's documents inside the open transaction (the caller holds the
    unit's savepoint). Raises PayloadError when the payload's rows cannot be stored."""

    def __init__(
        self, conn: Conn, unit: LoadUnit, chunks: Chunks, chunk_rows: int, ledger: Ledger
    ) -> None:
        self._conn = conn
        self._unit = unit
        self._chunks = chunks
        self._chunk = chunk_rows
        self._writer = DocWriter(conn, ledger)
        self._stream: _Stream | None = None
        self.stats = UnitStats()
        self._writer.begin(unit, self.stats)

    async def write(self) -> UnitStats:
        with _refusals():
            while chunk := await self._chunks.next():
                await self._writer.lookup(chunk)
                for piece in chunk:
                    await self._piece(piece)
                    if self._writer.buffer.rows >= self._chunk:
                        await self._writer.flush()
            await self._writer.flush()
        return self.stats

    async def _piece(self, p: Piece) -> None:
        self.stats.records += p.lines
        if not p.first:
            await self._part(p)
            return
        self.stats.documents += 1
        if p.last:
            await self._writer.whole(p, self._unit, self.stats)
            return
        stored = self._writer.stored(p.ident)
        if is_stale_version(stored, p.version):
            self.stats.stale_documents += 1
            self.stats.counts.add(Bucket.STALE, p.lines)
            self._stream = _Stream(p, stored, skip=True)
            return
        delivery = delivery_of(self._unit)
        action = plan_part(stored, p.version, "", delivery, paged=self._unit.paged)
        await self._writer.flush()
        stream = self._stream = _Stream(p, stored, skip=False, action=action)
        stream.saved = self._writer.ledger.checkpoint()
        stream.savepoint = self._conn.transaction()
        await stream.savepoint.start()
        await self._write_chunk(stream, p)

    async def _write_chunk(self, stream: _Stream, p: Piece) -> None:
        stored, delivery = stream.stored, delivery_of(self._unit)
        replaced = stored.delivery.run_id if stored and stored.delivery else None
        await self._writer.parts.write(
            *(p.key, (p.doc, p.data, p.rows), stream.action, delivery),
            *(stream.counts, stream.conflicts, replaced),
        )
        stream.action = PartAction.EXTEND  # later chunks add to the first
        stream.n += p.lines

    async def _part(self, p: Piece) -> None:
        stream = self._stream
        assert stream is not None
        if stream.skip:
            self.stats.counts.add(Bucket.STALE, p.lines)
            if p.last:
                self._stream = None
            return
        await self._write_chunk(stream, p)
        if p.last:
            self._stream = None
            await self._end_stream(stream, p)

    async def _end_stream(self, stream: _Stream, last: Piece) -> None:
        """The part's hash is known: unchanged (roll its rows back) or written."""
        assert last.digest is not None
        await self._writer.flush()
        if stream.stored is not None and last.digest == stream.stored.content_hash:
            await stream.savepoint.rollback()
            self._writer.ledger.restore(stream.saved)  # its recounts are undone too
            self._writer.parts.forget()
            self.stats.counts.add(Bucket.UNCHANGED, stream.n)
            return
        await stream.savepoint.commit()
        for bucket in Bucket:
            self.stats.counts.add(bucket, getattr(stream.counts, bucket.value))
        self.stats.conflicts.extend(stream.conflicts)
        delivery, first = delivery_of(self._unit), stream.first
        self._writer.wrote(
            first, StoredDoc(first.version, last.digest, delivery, stream.n), self._unit
        )


async def _write_unit(
    conn: Conn, unit: LoadUnit, chunks: Chunks, chunk_rows: int, ledger: Ledger
) -> UnitOutcome:
    """One unit under its own savepoint: its stats, or the PayloadError that rolled it
    back. Closes ``chunks``."""
    saved = ledger.checkpoint()
    try:
        savepoint = conn.transaction()
        await savepoint.start()
        try:
            stats = await UnitWriter(conn, unit, chunks, chunk_rows, ledger).write()
        except PayloadError as err:
            await savepoint.rollback()
            ledger.restore(saved)
            return err
    finally:
        chunks.close()
    await savepoint.commit()
    return stats


async def load_one(conn: Conn, unit: LoadUnit, chunk_rows: int, ledger: Ledger) -> UnitOutcome:
    """One unit, decoded a chunk at a time, under its own savepoint."""
    return await _write_unit(conn, unit, Decoder(unit, chunk_rows), chunk_rows, ledger)


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


async def _write_group(conn: Conn, entries: list[_Entry], ledger: Ledger) -> list[UnitStats]:
    """Write a group's documents with one lookup and one statement per kind; raises
    PayloadError when the server refuses some unit's rows (the caller rolls back)."""
    writer = DocWriter(conn, ledger)
    stats = []
    with _refusals():
        await writer.lookup([p for e in entries for p in e.pieces])
        for entry in entries:
            unit_stats = UnitStats()
            writer.begin(entry.unit, unit_stats)
            for p in entry.pieces:
                unit_stats.records += p.lines
                unit_stats.documents += 1
                await writer.whole(p, entry.unit, unit_stats)
            stats.append(unit_stats)
        await writer.flush()
    return stats


async def _flush_group(
    conn: Conn, group: _Group, chunk_rows: int, outcomes: dict[int, UnitOutcome], ledger: Ledger
) -> None:
    """Write the group under one savepoint; if the server refuses its rows, each unit
    again under its own (which quarantines the ones at fault)."""
    entries = group.take()
    if not entries:
        return
    saved = ledger.checkpoint()
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        stats = await _write_group(conn, entries, ledger)
    except PayloadError:
        await savepoint.rollback()
        ledger.restore(saved)
        for e in entries:
            outcomes[e.index] = await _write_unit(
                conn, e.unit, Prefetched(e.pieces, None), chunk_rows, ledger
            )
        return
    await savepoint.commit()
    for entry, unit_stats in zip(entries, stats, strict=True):
        outcomes[entry.index] = unit_stats


async def load_units(
    conn: Conn, units: Sequence[LoadUnit], chunk_rows: int, ledger: Ledger
) -> list[UnitOutcome]:
    """Write ``units`` in the open transaction: each one's stats, or the PayloadError that
    keeps it out (decoder error, or rows the server refuses)."""
    outcomes: dict[int, UnitOutcome] = {}
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
                    await _flush_group(conn, group, chunk_rows, outcomes, ledger)
                group.add(_Entry(index, unit, first))
                continue
            chunks = Prefetched(first, decoder)
            try:
                await _flush_group(conn, group, chunk_rows, outcomes, ledger)
            except BaseException:
                chunks.close()
                raise
            outcomes[index] = await _write_unit(conn, unit, chunks, chunk_rows, ledger)
        await _flush_group(conn, group, chunk_rows, outcomes, ledger)
    finally:
        lookahead.close()
    return [outcomes[i] for i in range(len(units))]
