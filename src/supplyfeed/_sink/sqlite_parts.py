"""SQLite: inventory snapshots made of parts, and the planner's other actions (docs/contract.md §6).

The loaders (sqlite_load.py, sqlite_batch.py) hand every inventory part to
:class:`PartWriter`. A part the planner would only insert (a new part whose SKUs no stored
row and no row written earlier in this transaction has) takes the fast path: its rows join
the buffered bulk insert. Any other part (a newer delivery of the source, or SKUs another
part reports too) is decided line by line by :func:`~.semantics.plan_lines` on the stored
copies of its SKUs, and the plan is written at once. Both give the tables the planner
says: the fast path is the plan when nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from .._models import InventorySnapshot, document_key
from .base import PAGE_SUFFIX, Conflict, Delivery
from .schema import INVENTORY_POSITIONS, SF_CONFLICTS, SF_INVENTORY_SHADOWS, doc_key_text
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
from .sqlite_rows import RowBuffer

__all__ = ["Ledger", "PartWriter", "read_conflicts", "sweep_source"]

_KEY: Final = "supplier_id = ? AND warehouse_id = ? AND as_of = ?"
_SKUS: Final = "sku IN (SELECT value FROM json_each(?))"
_ANY_COPY: Final = f"SELECT 1 FROM inventory_positions WHERE {_KEY} AND {_SKUS} LIMIT 1"
_COPIES: Final = f"SELECT * FROM inventory_positions WHERE {_KEY} AND {_SKUS}"
_PART_SKUS: Final = (
    f"SELECT sku FROM inventory_positions WHERE {_KEY} AND source = ? AND source_url = ?"
)
_PART_SHADOW_SKUS: Final = (
    f"SELECT sku FROM sf_inventory_shadows WHERE {_KEY} AND source = ? AND source_url = ?"
)
_ALL_COPIES: Final = f"SELECT * FROM inventory_positions WHERE {_KEY}"
_SHADOWS: Final = f"SELECT * FROM sf_inventory_shadows WHERE {_KEY} AND {_SKUS}"
_DELETE_ROW: Final = f"DELETE FROM inventory_positions WHERE {_KEY} AND sku = ?"
_UPSERT_ROW: Final = (
    f"INSERT OR REPLACE INTO inventory_positions VALUES "
    f"({', '.join('?' * len(INVENTORY_POSITIONS.columns))})"
)
_DROP_SHADOW: Final = (
    f"DELETE FROM sf_inventory_shadows WHERE {_KEY} AND sku = ? AND source = ? "
    "AND source_url = ? AND line_hash = ?"
)
_ADD_SHADOW: Final = (
    f"INSERT OR REPLACE INTO sf_inventory_shadows VALUES "
    f"({', '.join('?' * len(SF_INVENTORY_SHADOWS.columns))})"
)
_CONFLICT_COLUMNS: Final = SF_CONFLICTS.column_names[1:]
_ADD_CONFLICT: Final = (
    f"INSERT INTO sf_conflicts ({', '.join(_CONFLICT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_CONFLICT_COLUMNS))})"
)
_ANY_SHADOW: Final = f"SELECT 1 FROM sf_inventory_shadows WHERE {_KEY} LIMIT 1"
_ANY_OTHER_COPY: Final = (
    f"SELECT 1 FROM inventory_positions WHERE {_KEY} AND {_SKUS} "
    "AND NOT (source = ? AND source_url = ?) LIMIT 1"
)
_ALL_SHADOWS: Final = f"SELECT * FROM sf_inventory_shadows WHERE {_KEY}"
_FORGET_PART: Final = (
    "DELETE FROM sf_documents WHERE doc_type = 'inventory_snapshot' AND doc_key = ?"
)
_BUCKET_COLUMN: Final = {b: f"records_{b.value}" for b in Bucket}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Ledger:
    """The planner's bookkeeping in one transaction: conflicts stored, records of earlier
    units of the run moved between buckets (``in_flight``: the units of this transaction,
    whose ledger rows are written at its end)."""

    def __init__(self, conn: sqlite3.Connection, run_id: str) -> None:
        self._conn = conn
        self.run_id = run_id
        self.in_flight: dict[str | None, Counts] = {}

    def checkpoint(self) -> dict[str | None, Counts]:
        return checkpoint_counts(self.in_flight)

    def restore(self, saved: dict[str | None, Counts]) -> None:
        restore_counts(self.in_flight, saved)

    def settle(self, recounts: Sequence[Recount], conflicts: Sequence[Conflict]) -> None:
        for r in apply_recounts(recounts, self.in_flight):
            out, into = _BUCKET_COLUMN[r.source], _BUCKET_COLUMN[r.to]
            self._conn.execute(
                f"UPDATE sf_endpoints SET {out} = {out} - ?, {into} = {into} + ? "
                "WHERE run_id = ? AND request_id = ?",
                (r.n, r.n, self.run_id, r.request_id),
            )
        if conflicts:
            now = _now()
            self._conn.executemany(
                _ADD_CONFLICT, [conflict_row(c, self.run_id, now) for c in conflicts]
            )


class PartWriter:
    """Writes the parts of one transaction; remembers which (snapshot, SKU) it wrote, since
    the database cannot see rows still in the buffer."""

    def __init__(self, conn: sqlite3.Connection, rows: RowBuffer, ledger: Ledger) -> None:
        self._conn = conn
        self._rows = rows
        self._ledger = ledger
        self._written: dict[tuple[str, ...], set[str]] = {}  # snapshot -> SKUs buffered
        self._empty: set[tuple[str, ...]] = set()  # snapshots with no line stored before
        # (snapshot, source, page): every stored line of the snapshot is this part's and
        # it has no shadow (known_alone); true of a snapshot until this writer writes it
        self._alone: set[tuple[str, ...]] = set()
        self._unsurveyed: list[tuple[str, ...]] = []

    def write(
        self,
        doc: InventorySnapshot,
        action: PartAction,
        delivery: Delivery,
        counts: Counts,
        conflicts: list[Conflict],
        replaced_run: str | None = None,
    ) -> None:
        """One part (or one streamed chunk of it) that the planner said NEW, EXTEND or
        REPLACE (``replaced_run``: the run of the delivery it replaces); ``counts`` and
        ``conflicts`` receive its records' buckets."""
        key = document_key(doc)
        skus = [item.sku for item in doc.items]
        if len(set(skus)) != len(skus):
            unique_skus(line_copies(doc, delivery))  # raises, naming the SKU
        part = (*key, delivery.source, delivery.page)
        alone = action is PartAction.REPLACE and self._replaced_alone(key, delivery, replaced_run)
        if (action is not PartAction.REPLACE or alone) and not self._collides(
            key, skus, delivery if alone else None
        ):
            if alone:  # the planner's plan: the part's lines go, the new ones come
                self._rows.delete_part_first(part)
            d = delivery
            self._rows.lines(doc, (d.run_id, d.page, d.request_id, d.source))
            self._written.setdefault(key, set()).update(skus)
            counts.add(Bucket.LOADED, len(skus))
            return
        self._rows.flush()
        incoming = line_copies(doc, delivery)
        plan = self._plan(key, incoming, delivery if action is PartAction.REPLACE else None)
        self._apply(key, plan)
        for bucket in Bucket:
            counts.add(bucket, getattr(plan.counts, bucket.value))
        found = line_conflicts(doc_key_text(key), plan.conflicts)
        conflicts.extend(found)
        self._ledger.settle(plan.recounts, found)

    def known_empty(self, keys: Iterable[tuple[str, ...]]) -> None:
        """Note which of ``keys`` (snapshots) have no stored line at all, in one query: a
        part of one of them meets nothing stored (the fast path needs no probe)."""
        wanted = sorted(set(keys) - self._empty)
        for i in range(0, len(wanted), 300):
            chunk = wanted[i : i + 300]
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            stored = {
                tuple(r)
                for r in self._conn.execute(
                    f"WITH k(s, w, a) AS (VALUES {values}) SELECT s, w, a FROM k WHERE EXISTS "
                    "(SELECT 1 FROM inventory_positions p WHERE p.supplier_id = k.s "
                    "AND p.warehouse_id = k.w AND p.as_of = k.a)",
                    [v for k in chunk for v in k],
                )
            }
            self._empty.update(k for k in chunk if k not in stored)

    def known_alone(self, parts: Iterable[tuple[str, ...]]) -> None:
        """The parts (snapshot key, source, page) a group brings: the first replacement
        among them asks, in one query for all, which hold every stored line of their
        snapshot, which has no shadow, instead of two probes a part (the usual poll of a
        changed snapshot). A group of unchanged parts asks nothing."""
        self._unsurveyed.extend(parts)

    def _is_alone(self, part: tuple[str, ...]) -> bool:
        """Whether ``part`` holds its snapshot alone (call only for a snapshot this writer
        has not written: the answer is the stored state's)."""
        if self._unsurveyed:
            self._survey(self._unsurveyed)
            self._unsurveyed = []
        return part in self._alone

    def _survey(self, parts: Iterable[tuple[str, ...]]) -> None:
        wanted = sorted(set(parts) - self._alone)
        for i in range(0, len(wanted), 190):
            chunk = wanted[i : i + 190]
            values = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
            sql = (
                f"WITH k(s, w, a, src, url) AS (VALUES {values}) SELECT * FROM k "
                "WHERE EXISTS (SELECT 1 FROM inventory_positions p WHERE p.supplier_id = k.s "
                "AND p.warehouse_id = k.w AND p.as_of = k.a) "
                "AND NOT EXISTS (SELECT 1 FROM inventory_positions p WHERE p.supplier_id = k.s "
                "AND p.warehouse_id = k.w AND p.as_of = k.a "
                "AND NOT (p.source = k.src AND p.source_url = k.url)) "
                "AND NOT EXISTS (SELECT 1 FROM sf_inventory_shadows h WHERE h.supplier_id = k.s "
                "AND h.warehouse_id = k.w AND h.as_of = k.a)"
            )
            rows = self._conn.execute(sql, [v for k in chunk for v in k])
            self._alone.update(tuple(r) for r in rows)

    def _replaced_alone(
        self, key: tuple[str, ...], delivery: Delivery, replaced_run: str | None
    ) -> bool:
        """A newer delivery of a part no other part shares a line with (no shadow in the
        snapshot, so every line has one copy): the planner's plan is "delete the part's
        lines, insert the new ones", done in bulk by the caller. A part written earlier
        in this run (fetched again on resume) takes the planner's path, which recounts."""
        if replaced_run is None or replaced_run == delivery.run_id:
            return False
        if key in self._written:  # lines of the snapshot still buffered: let the checks see them
            self._rows.flush()
        elif self._is_alone((*key, delivery.source, delivery.page)):
            return True
        return self._conn.execute(_ANY_SHADOW, key).fetchone() is None

    def _collides(self, key: tuple[str, ...], skus: list[str], replacing: Delivery | None) -> bool:
        """Whether any SKU of the part is already in the snapshot (the fast path's test):
        written earlier in this transaction, or stored by another part (``replacing``:
        the part's own stored lines are about to go, so they do not count)."""
        written = self._written.get(key)
        if written is not None and not written.isdisjoint(skus):
            return True
        if key in self._empty:
            return False
        if (
            written is None
            and replacing is not None
            and self._is_alone((*key, replacing.source, replacing.page))
        ):
            return False  # the snapshot's stored lines are all the replaced part's
        listed = msgspec.json.encode(skus).decode()
        if replacing is not None:
            params = (*key, listed, replacing.source, replacing.page)
            return self._conn.execute(_ANY_OTHER_COPY, params).fetchone() is not None
        return self._conn.execute(_ANY_COPY, (*key, listed)).fetchone() is not None

    def _plan(
        self, key: tuple[str, ...], incoming: list[LineCopy], replace: Delivery | None
    ) -> LinePlan:
        """The planner's view: the table copies and shadows of every SKU the part touches
        (its incoming SKUs and, for a replacement, those of its earlier lines)."""
        conn = self._conn
        skus = {c.sku for c in incoming}
        if replace is not None:
            part = (*key, replace.source, replace.page)
            skus.update(str(r[0]) for r in conn.execute(_PART_SKUS, part))
            skus.update(str(r[0]) for r in conn.execute(_PART_SHADOW_SKUS, part))
        table, shadows = read_copies(conn, key, skus)
        return plan_lines(incoming, table, shadows, replace=replace)

    def _apply(self, key: tuple[str, ...], plan: LinePlan) -> None:
        apply_plan(self._conn, key, plan)
        self._written.setdefault(key, set()).update(c.sku for c in plan.upsert)


def read_copies(
    conn: sqlite3.Connection, key: tuple[str, ...], skus: Iterable[str] | None = None
) -> tuple[dict[str, LineCopy], list[LineCopy]]:
    """One snapshot's table copies and shadows, of ``skus`` or of every line."""
    if skus is None:
        rows, shadows = conn.execute(_ALL_COPIES, key), conn.execute(_ALL_SHADOWS, key)
    else:
        listed = msgspec.json.encode(sorted(skus)).decode()
        rows, shadows = (
            conn.execute(_COPIES, (*key, listed)),
            conn.execute(_SHADOWS, (*key, listed)),
        )
    table = {c.sku: c for c in map(copy_from_row, rows)}
    return table, [copy_from_row(r) for r in shadows]


def apply_plan(conn: sqlite3.Connection, key: tuple[str, ...], plan: LinePlan) -> None:
    """Write one snapshot's line plan: exactly the rows it names."""
    conn.executemany(_DELETE_ROW, [(*key, sku) for sku in plan.delete])
    conn.executemany(
        _DROP_SHADOW,
        [(*key, c.sku, c.delivery.source, c.delivery.page, c.line_hash) for c in plan.drop_shadows],
    )
    conn.executemany(_UPSERT_ROW, [copy_row(key, c) for c in plan.upsert])
    conn.executemany(_ADD_SHADOW, [shadow_row(key, c) for c in plan.add_shadows])


def sweep_source(conn: sqlite3.Connection, run_id: str, source: str) -> int:
    """A paged source's delivery is complete (see :func:`~.semantics.plan_sweep`); the
    caller owns the transaction. Returns the table rows that changed."""
    ledger = conn.execute(
        "SELECT url, outcome FROM sf_endpoints WHERE run_id = ? AND (endpoint_key = ? OR "
        "substr(endpoint_key, 1, ?) = ?) AND outcome IN ('loaded', 'unchanged')",
        (run_id, source, len(source) + len(PAGE_SUFFIX), source + PAGE_SUFFIX),
    ).fetchall()
    seen = {str(r[0]) for r in ledger}
    unchanged = {str(r[0]) for r in ledger if r[1] == "unchanged"}
    stored = [
        (str(r[0]), doc_key_text(snapshot_of_part(r[0])), Delivery(source, r[1], r[2], r[3]))
        for r in conn.execute(
            "SELECT doc_key, source_url, run_id, request_id FROM sf_documents "
            "WHERE doc_type = 'inventory_snapshot' AND source = ?",
            (source,),
        )
    ]
    parts = [(snap, d) for _, snap, d in stored]
    changed = 0
    for snap, kept in swept_snapshots(parts, run_id, seen, unchanged).items():
        key = snapshot_of_part(snap)
        table, shadows = read_copies(conn, key)
        plan = plan_sweep(table, shadows, run_id, source, kept)
        apply_plan(conn, key, plan)
        changed += len(plan.delete) + len(plan.upsert)
        gone = [k for k, s, d in stored if s == snap and is_swept(d, run_id, source, kept)]
        conn.executemany(_FORGET_PART, [(k,) for k in gone])
    return changed


def read_conflicts(conn: sqlite3.Connection, run_id: str | None) -> list[Conflict]:
    where, params = ("WHERE run_id = ?", (run_id,)) if run_id else ("", ())
    rows = conn.execute(f"SELECT * FROM sf_conflicts {where} ORDER BY id", params)
    return [conflict_from_row(r) for r in rows]
