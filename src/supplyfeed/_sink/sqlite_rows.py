"""Buffered row writes for the SQLite loaders: one ``executemany`` per table per flush.

Rows are buffered across documents (and, on the batch path, across payloads) and written
in chunks. A flush runs the deletes it was asked to defer first, then the inserts, then
the ``sf_documents`` upserts, so a document stored before this transaction is replaced
whole by a single pass. Inserts are plain ``INSERT``: every line key extends its
document's key, and a stored document's rows are deleted before its new rows go in, so a
conflict can only mean a duplicate line inside one document, which is the payload's fault
(a :class:`PayloadError` of kind ``constraint``).
"""

from __future__ import annotations

import sqlite3
from typing import Final

import msgspec

from .._exceptions import PayloadError
from .._models import DocKind, Document, InventorySnapshot, document_key
from .schema import (
    CANONICAL_TABLES,
    DOC_SPECS,
    INVENTORY_POSITIONS,
    SF_DOCUMENTS,
    DocSpec,
    Provenance,
    Row,
    Version,
    codes_text,
    header_rows,
    inventory_values,
    line_rows,
    timestamp_text,
)

__all__ = ["RowBuffer"]


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
    "j.value ->> 4, ?4, ?5, ?6, ?7, ?8, ?9 FROM json_each(?10) AS j"
)
# json_each pays a fixed cost per statement; it wins only for larger documents.
_JSON_MIN_ITEMS: Final = 64
_encode = msgspec.json.encode
_DOC_COLUMNS = SF_DOCUMENTS.column_names
_UPSERT_DOC: Final = (
    _insert_sql(SF_DOCUMENTS.name, _DOC_COLUMNS)
    + " ON CONFLICT (doc_type, doc_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _DOC_COLUMNS[2:])
)


def _delete_sql(spec: DocSpec) -> tuple[str, ...]:
    where = " AND ".join(f"{c} = ?" for c in spec.key_columns)
    return tuple(f"DELETE FROM {t.name} WHERE {where}" for t in spec.tables)


_DELETE: Final = {spec.kind: _delete_sql(spec) for spec in DOC_SPECS.values()}
_DELETE_PART: Final = (
    "DELETE FROM inventory_positions WHERE supplier_id = ? AND warehouse_id = ? AND as_of = ? "
    "AND source = ? AND source_url = ?"
)


class RowBuffer:
    """The pending writes of one transaction (see the module docstring)."""

    __slots__ = (
        "_buffered",
        "_chunk",
        "_conn",
        "_deletes",
        "_doc_rows",
        "_inventory",
        "_part_deletes",
        "_rows",
    )

    def __init__(self, conn: sqlite3.Connection, chunk_rows: int) -> None:
        self._conn = conn
        self._chunk = chunk_rows
        self._rows: dict[str, list[Row]] = {}
        self._inventory: list[Row] = []  # (key..., provenance..., JSON items)
        self._doc_rows: list[Row] = []
        self._deletes: dict[DocKind, list[tuple[str, ...]]] = {}
        self._part_deletes: list[tuple[str, ...]] = []
        self._buffered = 0

    def delete_part_first(self, part: tuple[str, ...]) -> None:
        """Delete, before the next flush's inserts, the stored lines of one snapshot part
        (supplier, warehouse, as_of, source, page) that its newer delivery replaces."""
        self._part_deletes.append(part)

    def delete_now(self, spec: DocSpec, key: tuple[str, ...]) -> None:
        """Delete a document's rows at once (after a flush: some may still be buffered)."""
        self.flush()
        for sql in _DELETE[spec.kind]:
            self._conn.execute(sql, key)

    def delete_first(self, spec: DocSpec, key: tuple[str, ...]) -> None:
        """Delete, before the next flush's inserts, the rows of a document stored before
        this transaction (none of its rows can be in the buffer)."""
        self._deletes.setdefault(spec.kind, []).append(key)

    def document(self, doc: Document, prov: Provenance) -> None:
        """Buffer a whole document's rows (header and lines)."""
        self.add(header_rows(doc, prov))
        self.lines(doc, prov)

    def header(self, doc: Document, prov: Provenance) -> None:
        """Buffer the header row of a document that streams in parts."""
        self.add(header_rows(doc, prov))

    def lines(self, doc: Document, prov: Provenance) -> None:
        """Buffer the line rows of a document or of one part of it."""
        if isinstance(doc, InventorySnapshot) and len(doc.items) >= _JSON_MIN_ITEMS:
            values = _encode(inventory_values(doc))
            version = (timestamp_text(doc.issued_at), doc.control_number)
            self._inventory.append((*document_key(doc), *prov, *version, values))
            self._buffered += len(doc.items)
            if self._buffered >= self._chunk:
                self.flush()
        else:
            self.add(line_rows(doc, prov))

    def add(self, rows: dict[str, list[Row]]) -> None:
        for table, table_rows in rows.items():
            buffered = self._rows.get(table)
            if buffered is None:
                self._rows[table] = table_rows
            else:
                buffered.extend(table_rows)
            self._buffered += len(table_rows)
        if self._buffered >= self._chunk:
            self.flush()

    def stored(
        self,
        ident: tuple[str, str],
        version: Version,
        digest: str,
        doc: Document,
        prov: Provenance,
        records: int,
    ) -> None:
        """Buffer the ``sf_documents`` row of a document (or part) written in this
        transaction; ``prov`` is the schema's order, source last."""
        self._doc_rows.append((*ident, *version, digest, codes_text(doc.codes), *prov, records))

    def flush(self) -> None:
        try:
            self._write()
        except sqlite3.IntegrityError as exc:
            raise PayloadError(
                f"rows violate the table's constraints: {exc}", kind="constraint"
            ) from exc
        except (sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError) as exc:
            # A decoder yielded a value of a type no column takes: a decoder bug.
            raise PayloadError(f"unstorable value: {exc}", kind="decoder_bug") from exc
        self._rows = {}
        self._inventory = []
        self._doc_rows = []
        self._deletes = {}
        self._part_deletes = []
        self._buffered = 0

    def _write(self) -> None:
        conn = self._conn
        for kind, keys in self._deletes.items():
            for sql in _DELETE[kind]:
                conn.executemany(sql, keys)
        if self._part_deletes:
            conn.executemany(_DELETE_PART, self._part_deletes)
        for inventory in self._inventory:
            conn.execute(_INSERT_INVENTORY_JSON, inventory)
        for table, rows in self._rows.items():
            conn.executemany(_INSERT[table], rows)
        if self._doc_rows:
            conn.executemany(_UPSERT_DOC, self._doc_rows)
