"""The SQLite per-unit path: one payload's documents, written inside a savepoint.

It takes what the batch path (sqlite_batch.py) leaves: spooled bodies, documents that
stream in parts, and the payloads of a batch whose rows broke a constraint. A streamed
document is written as it arrives, so it is never held whole.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import chain
from typing import Final

from .._models import Document
from .base import LoadUnit
from .schema import (
    DocHasher,
    DocSpec,
    Provenance,
    Version,
    content_hash,
    doc_key_text,
    version_of,
)
from .semantics import (
    Decision,
    StoredDoc,
    UnitStats,
    decide,
    group_documents,
    guarded,
    is_stale_version,
)
from .sqlite_rows import RowBuffer, line_count

__all__ = ["StoredLookup", "UnitLoader", "provenance"]

_LOOKUP_BATCH: Final = 256
_LOOKUP_CHUNK: Final = 500  # keys per IN (...) list, well under SQLite's variable limit
_SELECT_DOCS: Final = (
    "SELECT doc_key, issued_at, control_number, content_hash FROM sf_documents WHERE doc_type = ?"
)
_SELECT_DOC: Final = (
    "SELECT issued_at, control_number, content_hash FROM sf_documents "
    "WHERE doc_type = ? AND doc_key = ?"
)


def provenance(unit: LoadUnit) -> Provenance:
    return (unit.run_id, unit.record.endpoint.url, unit.record.request_id)


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
        return None if row is None else StoredDoc((row[0], row[1]), row[2])

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
                    self.prefetched[(doc_type, row[0])] = StoredDoc((row[1], row[2]), row[3])

    def wrote(self, ident: tuple[str, str], version: Version, digest: str) -> None:
        self.pending[ident] = StoredDoc(version, digest)


class UnitLoader:
    """Loads one unit. Raises PayloadError (the caller rolls the unit's savepoint back)."""

    def __init__(self, conn: sqlite3.Connection, unit: LoadUnit, chunk_rows: int) -> None:
        self._conn = conn
        self._unit = unit
        self._prov = provenance(unit)
        self._rows = RowBuffer(conn, chunk_rows)
        self._state = StoredLookup(conn)
        self.stats = UnitStats()

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
                self._streamed(spec, key, first, chain([second], parts))
        self._singles(singles)
        self._rows.flush()
        return self.stats

    def _singles(self, docs: list[tuple[DocSpec, tuple[str, ...], Document]]) -> None:
        """Documents that arrived whole, with their stored state looked up in one query
        (a payload of many small documents would otherwise cost one SELECT each)."""
        if not docs:
            return
        idents = [(spec.kind.value, doc_key_text(key)) for spec, key, _ in docs]
        self._state.prefetch(idents)
        for (spec, key, doc), ident in zip(docs, idents, strict=True):
            self._single(spec, key, doc, ident)

    def _single(
        self, spec: DocSpec, key: tuple[str, ...], doc: Document, ident: tuple[str, str]
    ) -> None:
        self.stats.records += line_count(doc)
        version, digest = version_of(doc), content_hash(doc)
        stored = self._state.get(ident)
        decision = decide(stored, version, digest)
        if decision is Decision.STALE:
            self.stats.stale_documents += 1
        if decision is not Decision.WRITE:
            return
        if stored is not None:
            self._rows.delete_now(spec, key)
        self._rows.document(doc, self._prov)
        self._wrote(ident, version, digest, doc)

    def _streamed(
        self, spec: DocSpec, key: tuple[str, ...], first: Document, rest: Iterator[Document]
    ) -> None:
        """A document in parts: written as it streams, under a savepoint, because its hash
        (needed to tell "unchanged" or "loses the tie") is known only after the last part."""
        ident = (spec.kind.value, doc_key_text(key))
        version = version_of(first)
        stored = self._state.get(ident)
        if is_stale_version(stored, version):
            self.stats.stale_documents += 1
            self.stats.records += sum(line_count(p) for p in chain([first], rest))
            return
        self._rows.flush()
        self._conn.execute("SAVEPOINT sf_doc")
        if stored is not None:
            self._rows.delete_now(spec, key)
        hasher = DocHasher(first)
        self._rows.header(first, self._prov)
        for part in chain([first], rest):
            hasher.add(part)
            self.stats.records += line_count(part)
            self._rows.lines(part, self._prov)
        self._rows.flush()
        digest = hasher.hexdigest()
        decision = decide(stored, version, digest)
        if decision is not Decision.WRITE:
            self._conn.execute("ROLLBACK TO sf_doc")
            self.stats.stale_documents += decision is Decision.STALE
        self._conn.execute("RELEASE sf_doc")
        if decision is Decision.WRITE:
            self._wrote(ident, version, digest, first)

    def _wrote(self, ident: tuple[str, str], version: Version, digest: str, doc: Document) -> None:
        self._state.wrote(ident, version, digest)  # a later duplicate must see this write
        self._rows.stored(ident, version, digest, doc, self._prov)
