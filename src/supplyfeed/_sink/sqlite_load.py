"""The SQLite hot path: write one unit's documents inside the open transaction.

Rows are buffered across documents and written with ``executemany`` in chunks; the buffer
is flushed before any delete, so a delete never races a buffered insert of the same key.
Inserts are plain ``INSERT``: every line key extends its document's key, and a stored
document's rows are deleted before its new rows go in, so a conflict can only mean a
duplicate line inside one document, which is the payload's fault (quarantined).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import chain
from typing import Final

import msgspec

from .._exceptions import PayloadError
from .._models import Document, InventorySnapshot, document_key
from .base import LoadUnit
from .schema import (
    CANONICAL_TABLES,
    INVENTORY_POSITIONS,
    SF_DOCUMENTS,
    DocHasher,
    DocSpec,
    Provenance,
    Row,
    Version,
    codes_text,
    content_hash,
    doc_key_text,
    header_rows,
    inventory_values,
    line_rows,
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

__all__ = ["UnitLoader"]


def _insert_sql(name: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT: Final = {t.name: _insert_sql(t.name, t.column_names) for t in CANONICAL_TABLES}
# Inventory items go in as one JSON array per document (or part), unpacked by SQLite's
# json_each: about 1.5x the rows per CPU second of executemany, whose per-row parameter
# binding dominates. ->> gives back exactly the int, float, text or NULL that was encoded,
# so the stored values equal those of rows_for (a contract test pins this).
_INSERT_INVENTORY_JSON: Final = (
    f"INSERT INTO inventory_positions ({', '.join(INVENTORY_POSITIONS.column_names)}) "
    "SELECT ?1, ?2, ?3, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, "
    "j.value ->> 4, ?4, ?5, ?6 FROM json_each(?7) AS j"
)
_encode = msgspec.json.encode
_DOC_COLUMNS = SF_DOCUMENTS.column_names
_UPSERT_DOC: Final = (
    _insert_sql(SF_DOCUMENTS.name, _DOC_COLUMNS)
    + " ON CONFLICT (doc_type, doc_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _DOC_COLUMNS[2:])
)
_LOOKUP_BATCH: Final = 256
_JSON_MIN_ITEMS: Final = 64
_SELECT_DOCS: Final = (
    "SELECT doc_key, issued_at, control_number, content_hash FROM sf_documents WHERE doc_type = ?"
)
_SELECT_DOC: Final = (
    "SELECT issued_at, control_number, content_hash FROM sf_documents "
    "WHERE doc_type = ? AND doc_key = ?"
)


def _delete_sql(spec: DocSpec) -> list[str]:
    where = " AND ".join(f"{c} = ?" for c in spec.key_columns)
    return [f"DELETE FROM {t.name} WHERE {where}" for t in spec.tables]


def _lines(doc: Document) -> int:
    return len(doc.items) if isinstance(doc, InventorySnapshot) else len(doc.lines)


class UnitLoader:
    """Loads one unit. Raises PayloadError (the caller rolls the unit's savepoint back)."""

    def __init__(self, conn: sqlite3.Connection, unit: LoadUnit, chunk_rows: int) -> None:
        self._conn = conn
        self._unit = unit
        self._chunk = chunk_rows
        self._prov: Provenance = (unit.run_id, unit.record.endpoint.url, unit.record.request_id)
        self._rows: dict[str, list[Row]] = {}
        self._inventory: list[Row] = []  # (key..., provenance..., JSON items)
        self._buffered = 0
        self._doc_rows: list[Row] = []
        # Written earlier in this unit and not flushed yet; checked before the database.
        self._pending: dict[tuple[str, str], StoredDoc] = {}
        # The stored state of the current batch of whole documents (None: not stored).
        self._prefetched: dict[tuple[str, str], StoredDoc | None] = {}
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
        self._flush()
        return self.stats

    # -- whole documents -----------------------------------------------------------------

    def _singles(self, docs: list[tuple[DocSpec, tuple[str, ...], Document]]) -> None:
        """Documents that arrived whole, with their stored state looked up in one query
        (a payload of many small documents would otherwise cost one SELECT each)."""
        if not docs:
            return
        idents = [(spec.kind.value, doc_key_text(key)) for spec, key, _ in docs]
        self._prefetch(idents)
        for (spec, key, doc), ident in zip(docs, idents, strict=True):
            self._single(spec, key, doc, ident)

    def _single(
        self, spec: DocSpec, key: tuple[str, ...], doc: Document, ident: tuple[str, str]
    ) -> None:
        self.stats.records += _lines(doc)
        version, digest = version_of(doc), content_hash(doc)
        stored = self._stored(ident)
        decision = decide(stored, version, digest)
        if decision is Decision.STALE:
            self.stats.stale_documents += 1
        if decision is not Decision.WRITE:
            return
        if stored is not None:
            self._flush()
            self._delete(spec, key)
        self._add(header_rows(doc, self._prov))
        self._add_lines(doc)
        self._remember(ident, version, digest, doc)

    def _streamed(
        self, spec: DocSpec, key: tuple[str, ...], first: Document, rest: Iterator[Document]
    ) -> None:
        """A document in parts: written as it streams, under a savepoint, because its hash
        (needed to tell "unchanged" or "loses the tie") is known only after the last part."""
        ident = (spec.kind.value, doc_key_text(key))
        version = version_of(first)
        stored = self._stored(ident)
        if is_stale_version(stored, version):
            self.stats.stale_documents += 1
            self.stats.records += sum(_lines(p) for p in chain([first], rest))
            return
        self._flush()
        self._conn.execute("SAVEPOINT sf_doc")
        if stored is not None:
            self._delete(spec, key)
        hasher = DocHasher(first)
        self._add(header_rows(first, self._prov))
        for part in chain([first], rest):
            hasher.add(part)
            self.stats.records += _lines(part)
            self._add_lines(part)
        self._flush()
        digest = hasher.hexdigest()
        decision = decide(stored, version, digest)
        if decision is not Decision.WRITE:
            self._conn.execute("ROLLBACK TO sf_doc")
            self.stats.stale_documents += decision is Decision.STALE
        self._conn.execute("RELEASE sf_doc")
        if decision is Decision.WRITE:
            self._remember(ident, version, digest, first)

    # -- state -------------------------------------------------------------------------

    def _stored(self, ident: tuple[str, str]) -> StoredDoc | None:
        pending = self._pending.get(ident)
        if pending is not None:
            return pending
        if ident in self._prefetched:
            return self._prefetched[ident]
        row = self._conn.execute(_SELECT_DOC, ident).fetchone()
        return None if row is None else StoredDoc((row[0], row[1]), row[2])

    def _prefetch(self, idents: list[tuple[str, str]]) -> None:
        """Load the stored state of ``idents`` in one query per document type."""
        self._prefetched = {}
        by_type: dict[str, list[str]] = {}
        for doc_type, doc_key in idents:
            by_type.setdefault(doc_type, []).append(doc_key)
        for doc_type, keys in by_type.items():
            marks = ", ".join("?" * len(keys))
            sql = f"{_SELECT_DOCS} AND doc_key IN ({marks})"
            found = {
                (doc_type, row[0]): StoredDoc((row[1], row[2]), row[3])
                for row in self._conn.execute(sql, (doc_type, *keys))
            }
            for key in keys:
                self._prefetched[(doc_type, key)] = found.get((doc_type, key))

    def _remember(
        self, ident: tuple[str, str], version: Version, digest: str, doc: Document
    ) -> None:
        self._pending[ident] = StoredDoc(version, digest)
        if ident in self._prefetched:  # a later duplicate in this batch must see this write
            self._prefetched[ident] = self._pending[ident]
        self._doc_rows.append((*ident, *version, digest, codes_text(doc.codes), *self._prov))

    def _delete(self, spec: DocSpec, key: tuple[str, ...]) -> None:
        for sql in _delete_sql(spec):
            self._conn.execute(sql, key)

    def _add(self, rows: dict[str, list[Row]]) -> None:
        for table, table_rows in rows.items():
            buffered = self._rows.get(table)
            if buffered is None:
                self._rows[table] = table_rows
            else:
                buffered.extend(table_rows)
            self._buffered += len(table_rows)
        if self._buffered >= self._chunk:
            self._flush()

    def _add_lines(self, doc: Document) -> None:
        # json_each pays a fixed cost per statement; it wins only for larger documents.
        if isinstance(doc, InventorySnapshot) and len(doc.items) >= _JSON_MIN_ITEMS:
            if doc.items:
                values = _encode(inventory_values(doc))
                self._inventory.append((*document_key(doc), *self._prov, values))
                self._buffered += len(doc.items)
            if self._buffered >= self._chunk:
                self._flush()
        else:
            self._add(line_rows(doc, self._prov))

    def _flush(self) -> None:
        try:
            for inventory in self._inventory:
                self._conn.execute(_INSERT_INVENTORY_JSON, inventory)
            for table, rows in self._rows.items():
                self._conn.executemany(_INSERT[table], rows)
            if self._doc_rows:
                self._conn.executemany(_UPSERT_DOC, self._doc_rows)
        except sqlite3.IntegrityError as exc:
            raise PayloadError(
                f"rows violate the table's constraints: {exc}", kind="constraint"
            ) from exc
        except (sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError) as exc:
            # A decoder yielded a value of a type no column takes: a decoder bug.
            raise PayloadError(f"unstorable value: {exc}", kind="decoder_bug") from exc
        self._rows = {}
        self._inventory = []
        self._buffered = 0
        self._doc_rows = []
        self._pending.clear()
