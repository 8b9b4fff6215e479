"""The SQLite batch path: many small payloads loaded in one pass.

A run's writer hands the sink up to ``batch_size`` payloads per transaction, most of them
a few small documents each. One unit at a time, each would cost a savepoint, a lookup
query and an ``executemany`` per table. Here the whole documents of a group of payloads
are decoded first, their stored state is looked up in one query per document type, and
their rows go out with one ``executemany`` per table (sqlite_rows.py).

The result is the one the per-unit path gives (sqlite_load.py): the replace, skip and
stale rules (semantics.decide) are applied in payload order, and a document met twice
in a group sees its first write. What this path does not take goes to the per-unit
path: a spooled body, a document that streams in parts, and every payload of a group
whose rows break a constraint (the group is rolled back to its savepoint first, so the
per-unit path can quarantine exactly the payload at fault).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from .._exceptions import PayloadError
from .._models import Document
from .base import LoadUnit
from .schema import DocSpec, content_hash, doc_key_text, version_of
from .semantics import Decision, UnitStats, decide, group_documents, guarded
from .sqlite_load import StoredLookup, provenance
from .sqlite_rows import RowBuffer, line_count

__all__ = ["UnitResult", "load_batch"]

UnitResult: TypeAlias = UnitStats | PayloadError
WholeDoc: TypeAlias = tuple[DocSpec, tuple[str, ...], Document]
PerUnit: TypeAlias = Callable[[LoadUnit], UnitResult]


@dataclass(slots=True)
class _Decoded:
    index: int  # the unit's place in the batch
    unit: LoadUnit
    docs: list[WholeDoc]
    records: int


def load_batch(
    conn: sqlite3.Connection, units: Sequence[LoadUnit], chunk_rows: int, per_unit: PerUnit
) -> list[UnitResult]:
    """Load ``units`` inside the open transaction; one result per unit, in order.

    ``per_unit`` loads one unit under its own savepoint (the per-unit path). Groups are
    cut at ``chunk_rows`` decoded records, which bounds the memory of decoded documents.
    """
    results: list[UnitResult | None] = [None] * len(units)
    group: list[_Decoded] = []
    records = 0
    for index, unit in enumerate(units):
        decoded = _decode_whole(unit)
        if decoded is None:
            results[index] = per_unit(unit)
        elif isinstance(decoded, PayloadError):
            results[index] = decoded  # nothing of it was written
        else:
            count = sum(line_count(doc) for _, _, doc in decoded)
            group.append(_Decoded(index, unit, decoded, count))
            records += count
            if records >= chunk_rows:
                _load_group(conn, group, chunk_rows, per_unit, results)
                group, records = [], 0
    _load_group(conn, group, chunk_rows, per_unit, results)
    return [_done(r) for r in results]


def _done(result: UnitResult | None) -> UnitResult:
    assert result is not None, "every unit of a batch gets a result"
    return result


def _decode_whole(unit: LoadUnit) -> list[WholeDoc] | PayloadError | None:
    """A payload's documents, each whole; None when the payload is not for this path."""
    if unit.body.spooled:
        return None
    docs: list[WholeDoc] = []
    groups = group_documents(guarded(unit.documents))
    try:
        for spec, key, parts in groups:
            first = next(parts)
            if next(parts, None) is not None:
                return None  # it streams in parts: the per-unit path writes it as it comes
            docs.append((spec, key, first))
    except PayloadError as err:
        return err
    return docs


def _load_group(
    conn: sqlite3.Connection,
    group: list[_Decoded],
    chunk_rows: int,
    per_unit: PerUnit,
    results: list[UnitResult | None],
) -> None:
    if not group:
        return
    conn.execute("SAVEPOINT sf_group")
    try:
        stats = _GroupWriter(conn, chunk_rows).write(group)
    except PayloadError:
        # Which payload is at fault is not known: redo each under its own savepoint.
        conn.execute("ROLLBACK TO sf_group")
        conn.execute("RELEASE sf_group")
        for item in group:
            results[item.index] = per_unit(item.unit)
        return
    conn.execute("RELEASE sf_group")
    for item, unit_stats in zip(group, stats, strict=True):
        results[item.index] = unit_stats


class _GroupWriter:
    def __init__(self, conn: sqlite3.Connection, chunk_rows: int) -> None:
        self._rows = RowBuffer(conn, chunk_rows)
        self._state = StoredLookup(conn)

    def write(self, group: list[_Decoded]) -> list[UnitStats]:
        idents = [[(spec.kind.value, doc_key_text(key)) for spec, key, _ in g.docs] for g in group]
        self._state.prefetch([ident for unit_idents in idents for ident in unit_idents])
        stats = [self._unit(g, unit_idents) for g, unit_idents in zip(group, idents, strict=True)]
        self._rows.flush()
        return stats

    def _unit(self, item: _Decoded, idents: list[tuple[str, str]]) -> UnitStats:
        stats = UnitStats(records=item.records, documents=len(item.docs))
        prov = provenance(item.unit)
        for (spec, key, doc), ident in zip(item.docs, idents, strict=True):
            version, digest = version_of(doc), content_hash(doc)
            stored = self._state.get(ident)
            decision = decide(stored, version, digest)
            if decision is Decision.STALE:
                stats.stale_documents += 1
            if decision is not Decision.WRITE:
                continue
            if ident in self._state.pending:  # written earlier in this group
                self._rows.delete_now(spec, key)
            elif stored is not None:  # stored before this transaction
                self._rows.delete_first(spec, key)
            self._rows.document(doc, prov)
            self._state.wrote(ident, version, digest)
            self._rows.stored(ident, version, digest, doc, prov)
        return stats
