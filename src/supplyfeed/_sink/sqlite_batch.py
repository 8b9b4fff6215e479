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
from .._models import Document, InventorySnapshot, document_key
from .base import LoadUnit
from .schema import DocSpec
from .semantics import UnitStats, delivery_of, group_documents, guarded, line_count
from .sqlite_load import DocWriter, ident_of
from .sqlite_parts import Ledger

__all__ = ["UnitResult", "load_batch"]

UnitResult: TypeAlias = UnitStats | PayloadError
WholeDoc: TypeAlias = tuple[DocSpec, tuple[str, ...], Document]
PerUnit: TypeAlias = Callable[[LoadUnit], UnitResult]


@dataclass(slots=True)
class _Decoded:
    """A unit of a batch decoded: its documents and their record count."""

    index: int  # the unit's place in the batch
    unit: LoadUnit
    docs: list[WholeDoc]
    records: int


def load_batch(
    conn: sqlite3.Connection,
    units: Sequence[LoadUnit],
    chunk_rows: int,
    per_unit: PerUnit,
    ledger: Ledger,
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
            # The group gathered so far goes first: units load in the order they came,
            # which decides between two fetches of one source (the later one wins).
            _load_group(conn, group, chunk_rows, per_unit, results, ledger)
            group, records = [], 0
            results[index] = per_unit(unit)
        elif isinstance(decoded, PayloadError):
            results[index] = decoded  # nothing of it was written
        else:
            count = sum(line_count(doc) for _, _, doc in decoded)
            group.append(_Decoded(index, unit, decoded, count))
            records += count
            if records >= chunk_rows:
                _load_group(conn, group, chunk_rows, per_unit, results, ledger)
                group, records = [], 0
    _load_group(conn, group, chunk_rows, per_unit, results, ledger)
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
    ledger: Ledger,
) -> None:
    if not group:
        return
    conn.execute("SAVEPOINT sf_group")
    try:
        stats = _GroupWriter(conn, chunk_rows, ledger).write(group)
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


def _parts_of(item: _Decoded) -> list[tuple[str, ...]]:
    """(snapshot key, source, page) of each inventory part in ``item``."""
    d = delivery_of(item.unit)
    return [
        (*document_key(doc), d.source, d.page)
        for _, _, doc in item.docs
        if isinstance(doc, InventorySnapshot)
    ]


class _GroupWriter:
    def __init__(self, conn: sqlite3.Connection, chunk_rows: int, ledger: Ledger) -> None:
        self._writer = DocWriter(conn, chunk_rows, ledger)

    def write(self, group: list[_Decoded]) -> list[UnitStats]:
        idents = [
            ident_of(spec, key, delivery_of(g.unit)) for g in group for spec, key, _ in g.docs
        ]
        self._writer.state.prefetch(idents)
        parts = [part for g in group for part in _parts_of(g)]
        self._writer.parts.known_empty(part[:3] for part in parts)
        self._writer.parts.known_alone(parts)
        stats = [self._unit(g) for g in group]
        self._writer.rows.flush()
        return stats

    def _unit(self, item: _Decoded) -> UnitStats:
        stats = UnitStats(records=item.records, documents=len(item.docs))
        self._writer.begin(item.unit, stats)
        for spec, key, doc in item.docs:
            self._writer.document(spec, key, doc, item.unit, stats)
        return stats
