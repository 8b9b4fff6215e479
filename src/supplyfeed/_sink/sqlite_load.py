"""The SQLite per-unit path: one payload's documents, written inside a savepoint.

It takes what the batch path (sqlite_batch.py) leaves: spooled bodies, documents that
stream in parts, and the payloads of a batch whose rows broke a constraint. A streamed
document is written as it arrives, so it is never held whole. :class:`DocWriter` carries
out the planner's decision for one document; both paths use it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import chain
from typing import Any, Final

from .._models import Document, InventorySnapshot
from .base import Conflict, Delivery, LoadUnit
from .schema import (
    DocHasher,
    DocSpec,
    Provenance,
    content_hash,
    doc_key_text,
    rows_for,
    version_of,
)
from .semantics import (
    Bucket,
    Counts,
    DocAction,
    PartAction,
    StoredDoc,
    UnitStats,
    delivery_of,
    group_documents,
    guarded,
    is_stale_version,
    line_count,
    part_ident,
    part_records,
    plan_document,
    plan_part,
    provenance,
)
from .sqlite_parts import Ledger, PartWriter
from .sqlite_rows import RowBuffer

__all__ = ["DocWriter", "StoredLookup", "UnitLoader"]

_LOOKUP_BATCH: Final = 256
_LOOKUP_CHUNK: Final = 500  # keys per IN (...) list, well under SQLite's variable limit
_STORED: Final = (
    "issued_at, control_number, content_hash, source, source_url, run_id, request_id, records"
)
_SELECT_DOCS: Final = f"SELECT doc_key, {_STORED} FROM sf_documents WHERE doc_type = ?"
_SELECT_DOC: Final = f"SELECT {_STORED} FROM sf_documents WHERE doc_type = ? AND doc_key = ?"


def _stored(row: Any) -> StoredDoc:
    delivery = Delivery(row[3], row[4], row[5], row[6])
    return StoredDoc((row[0], row[1]), row[2], delivery, row[7])


class StoredLookup:
    """The stored state of documents: what this transaction wrote (``pending``) first,
    then a batch of keys looked up in one query per document type, then one query."""

    __slots__ = ("_conn", "pending", "prefetched")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.pending: dict[tuple[str, str], StoredDoc] = {}
        self.prefetched: dict[tuple[str, str], StoredDoc | None] = {}

    def get(self, ident: tuple[str, str]) -> StoredDoc | None:
        pending = self.pending.get(ident)
        if pending is not None:
            return pending
        if ident in self.prefetched:
            return self.prefetched[ident]
        row = self._conn.execute(_SELECT_DOC, ident).fetchone()
        return None if row is None else _stored(row)

    def prefetch(self, idents: list[tuple[str, str]]) -> None:
        """Replace the prefetched state by that of ``idents``."""
        self.prefetched = dict.fromkeys(idents)
        by_type: dict[str, list[str]] = {}
        for doc_type, doc_key in idents:
            by_type.setdefault(doc_type, []).append(doc_key)
        for doc_type, keys in by_type.items():
            for i in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[i : i + _LOOKUP_CHUNK]
                sql = f"{_SELECT_DOCS} AND doc_key IN ({', '.join('?' * len(chunk))})"
                for row in self._conn.execute(sql, (doc_type, *chunk)):
                    self.prefetched[(doc_type, row[0])] = _stored(row[1:])

    def wrote(self, ident: tuple[str, str], stored: StoredDoc) -> None:
        self.pending[ident] = stored


def ident_of(spec: DocSpec, key: tuple[str, ...], delivery: Delivery) -> tuple[str, str]:
    """A whole document's identity, or a snapshot part's (its source and page in it)."""
    if spec.kind.value == "inventory_snapshot":
        return part_ident(key, delivery)
    return (spec.kind.value, doc_key_text(key))


class DocWriter:
    """Carries out the planner's decision for each document of one transaction."""

    def __init__(self, conn: sqlite3.Connection, chunk_rows: int, ledger: Ledger) -> None:
        self._conn = conn
        self.rows = RowBuffer(conn, chunk_rows)
        self.state = StoredLookup(conn)
        self.ledger = ledger
        self.parts = PartWriter(conn, self.rows, self.ledger)

    def begin(self, unit: LoadUnit, stats: UnitStats) -> None:
        """The unit's records may be recounted by a later document of this transaction."""
        self.ledger.in_flight[unit.record.request_id] = stats.counts

    def document(
        self, spec: DocSpec, key: tuple[str, ...], doc: Document, unit: LoadUnit, stats: UnitStats
    ) -> None:
        delivery, n = delivery_of(unit), line_count(doc)
        ident = ident_of(spec, key, delivery)
        version, digest = version_of(doc), content_hash(doc)
        stored = self.state.get(ident)
        if isinstance(doc, InventorySnapshot):
            self._part(ident, doc, (version, digest, n), stored, unit, stats)
            return
        plan = plan_document(stored, version, digest, delivery)
        stats.counts.add(plan.bucket, n)
        stats.stale_documents += plan.action is DocAction.STALE
        conflicts = []
        if plan.conflict and stored is not None:
            conflicts.append(self._conflict(spec, key, doc, digest, stored, delivery, plan.action))
        if plan.action is DocAction.WRITE:
            if ident in self.state.pending:  # written earlier in this transaction
                self.rows.delete_now(spec, key)
            elif stored is not None:  # stored before this transaction
                self.rows.delete_first(spec, key)
            self.rows.document(doc, provenance(unit))
            self._wrote(ident, StoredDoc(version, digest, delivery, n), doc, unit)
        stats.conflicts.extend(conflicts)
        self.ledger.settle([plan.recount] if plan.recount else [], conflicts)

    def _part(
        self,
        ident: tuple[str, str],
        doc: InventorySnapshot,
        meta: tuple[Any, str, int],
        stored: StoredDoc | None,
        unit: LoadUnit,
        stats: UnitStats,
    ) -> None:
        (version, digest, n), delivery = meta, delivery_of(unit)
        action = plan_part(stored, version, digest, delivery, paged=unit.paged)
        if action in (PartAction.UNCHANGED, PartAction.STALE):
            stats.counts.add(_BUCKET[action], n)
            stats.stale_documents += action is PartAction.STALE
            return
        replaced = stored.delivery.run_id if stored and stored.delivery else None
        self.parts.write(doc, action, delivery, stats.counts, stats.conflicts, replaced)
        records = part_records(stored, delivery, n)
        self._wrote(ident, StoredDoc(version, digest, delivery, records), doc, unit)

    def streamed(
        self,
        key: tuple[str, ...],
        first: InventorySnapshot,
        rest: Iterator[Document],
        unit: LoadUnit,
        stats: UnitStats,
    ) -> None:
        """A snapshot part in chunks: written as it streams, under a savepoint, because its
        hash (needed to tell "unchanged") is known only after the last chunk."""
        delivery = delivery_of(unit)
        ident = part_ident(key, delivery)
        version = version_of(first)
        stored = self.state.get(ident)
        if is_stale_version(stored, version):
            n = sum(line_count(p) for p in chain([first], rest))
            stats.records += n
            stats.counts.add(_BUCKET[PartAction.STALE], n)
            stats.stale_documents += 1
            return
        action = plan_part(stored, version, "", delivery, paged=unit.paged)
        self.rows.flush()
        self._conn.execute("SAVEPOINT sf_doc")
        saved = self.ledger.checkpoint()  # recounts of earlier units roll back with it
        counts, conflicts, hasher, n = Counts(), list[Conflict](), DocHasher(first), 0
        for part in chain([first], rest):
            hasher.add(part)
            n += line_count(part)
            assert isinstance(part, InventorySnapshot)
            replaced = stored.delivery.run_id if stored and stored.delivery else None
            self.parts.write(part, action, delivery, counts, conflicts, replaced)
            action = PartAction.EXTEND  # later chunks add to the first
        self.rows.flush()
        stats.records += n
        digest = hasher.hexdigest()
        if stored is not None and digest == stored.content_hash:
            self._conn.execute("ROLLBACK TO sf_doc")
            self._conn.execute("RELEASE sf_doc")
            self.ledger.restore(saved)
            stats.counts.add(_BUCKET[PartAction.UNCHANGED], n)
            return
        self._conn.execute("RELEASE sf_doc")
        for bucket in Bucket:
            stats.counts.add(bucket, getattr(counts, bucket.value))
        stats.conflicts.extend(conflicts)
        self._wrote(ident, StoredDoc(version, digest, delivery, n), first, unit)

    def _wrote(
        self, ident: tuple[str, str], stored: StoredDoc, doc: Document, unit: LoadUnit
    ) -> None:
        self.state.wrote(ident, stored)  # a later duplicate must see this write
        prov: Provenance = provenance(unit)
        self.rows.stored(ident, stored.version, stored.content_hash, doc, prov, stored.records)

    def _conflict(
        self,
        spec: DocSpec,
        key: tuple[str, ...],
        doc: Document,
        digest: str,
        stored: StoredDoc,
        delivery: Delivery,
        action: DocAction,
    ) -> Conflict:
        self.rows.flush()
        ours = {"content_hash": digest, "rows": rows_for(doc)}
        theirs = {"content_hash": stored.content_hash, "rows": self._rows_of(spec, key)}
        other = stored.delivery or delivery
        ident = ident_of(spec, key, delivery)
        if action is DocAction.WRITE:
            return Conflict(ident[0], ident[1], None, delivery, ours, other, theirs)
        return Conflict(ident[0], ident[1], None, other, theirs, delivery, ours)

    def _rows_of(self, spec: DocSpec, key: tuple[str, ...]) -> dict[str, list[list[Any]]]:
        where = " AND ".join(f"{c} = ?" for c in spec.key_columns)
        return {
            t.name: [
                list(r) for r in self._conn.execute(f"SELECT * FROM {t.name} WHERE {where}", key)
            ]
            for t in spec.tables
        }


_BUCKET: Final = {
    PartAction.UNCHANGED: Bucket.UNCHANGED,
    PartAction.STALE: Bucket.STALE,
}


class UnitLoader:
    """Loads one unit. Raises PayloadError (the caller rolls the unit's savepoint back)."""

    def __init__(
        self, conn: sqlite3.Connection, unit: LoadUnit, chunk_rows: int, ledger: Ledger
    ) -> None:
        self._unit = unit
        self._writer = DocWriter(conn, chunk_rows, ledger)
        self.stats = UnitStats()
        self._writer.begin(unit, self.stats)

    def load(self) -> UnitStats:
        singles: list[tuple[DocSpec, tuple[str, ...], Document]] = []
        for spec, key, parts in group_documents(guarded(self._unit.documents)):
            first = next(parts)
            second = next(parts, None)
            self.stats.documents += 1
            if second is None:
                singles.append((spec, key, first))
                if len(singles) >= _LOOKUP_BATCH:
                    self._singles(singles)
                    singles = []
            else:
                self._singles(singles)
                singles = []
                assert isinstance(first, InventorySnapshot), "only snapshots stream in parts"
                self._writer.streamed(key, first, chain([second], parts), self._unit, self.stats)
        self._singles(singles)
        self._writer.rows.flush()
        return self.stats

    def _singles(self, docs: list[tuple[DocSpec, tuple[str, ...], Document]]) -> None:
        """Documents that arrived whole, with their stored state looked up in one query
        (a payload of many small documents would otherwise cost one SELECT each)."""
        if not docs:
            return
        delivery = delivery_of(self._unit)
        self._writer.state.prefetch([ident_of(spec, key, delivery) for spec, key, _ in docs])
        for spec, key, doc in docs:
            self.stats.records += line_count(doc)
            self._writer.document(spec, key, doc, self._unit, self.stats)
