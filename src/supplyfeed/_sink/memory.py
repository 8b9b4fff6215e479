"""The in-memory fake sink that ships with the package, for tests of the pipeline.

Same semantics as the SQL sinks (the shared rules live in :mod:`.semantics` and the rows
come from :mod:`.schema`), held in dicts. A unit is atomic through an undo log: every
document it changed is put back if its decoder raises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

import msgspec

from .._exceptions import PayloadError, SinkError
from .._fetch.conditional import Validators
from .._formats.body import Body
from .._models import DocKind, Document, InventorySnapshot
from .base import (
    Conflict,
    DeadLetter,
    Delivery,
    Endpoint,
    EndpointRecord,
    LoadUnit,
    Outcome,
    RequestTrace,
    RunRecord,
    Sighting,
)
from .feed_state import MemoryFeedState, PageMark
from .schema import (
    CANONICAL_TABLES,
    TABLES,
    TRACED_TABLES,
    DocSpec,
    Provenance,
    Row,
    content_hash,
    doc_key_text,
    rows_for,
    version_of,
)
from .semantics import (
    Bucket,
    Counts,
    DocAction,
    LineCopy,
    PartAction,
    Recount,
    StoredDoc,
    UnitStats,
    apply_recounts,
    copy_row,
    counts_of,
    delivery_of,
    final_record,
    group_documents,
    guarded,
    is_swept,
    line_conflicts,
    line_copies,
    line_count,
    loaded_record,
    part_ident,
    part_records,
    plan_document,
    plan_lines,
    plan_part,
    plan_sweep,
    provenance,
    replay_unit,
    snapshot_of_part,
    swept_snapshots,
    unique_skus,
    with_counts,
)

__all__ = ["MemorySink"]

_Ident = tuple[str, str]  # doc_type, doc_key
_DocRows = dict[str, list[Row]]


def _pk_indexes() -> dict[str, tuple[int, ...]]:
    return {t.name: tuple(t.column_names.index(c) for c in t.primary_key) for t in CANONICAL_TABLES}


_PK = _pk_indexes()
_REQUEST_ID = {t.name: t.column_names.index("request_id") for t in CANONICAL_TABLES}


class MemorySink:
    """A :class:`~supplyfeed._sink.base.Sink` in dicts. Nothing survives the process."""

    def __init__(self, url: str = "memory://", **_options: Any) -> None:
        self.url = url
        self.opened = False
        self._docs: dict[_Ident, StoredDoc] = {}  # whole documents and snapshot parts
        self._rows: dict[_Ident, _DocRows] = {}  # whole documents' rows
        self._lines: dict[str, dict[str, LineCopy]] = {}  # snapshot key -> SKU -> copy
        self._shadows: dict[str, dict[tuple[str, ...], LineCopy]] = {}
        self._conflicts: dict[int, tuple[str, Conflict]] = {}  # sf_conflicts (run id, conflict)
        self._feed_state = MemoryFeedState()
        self._runs: dict[str, RunRecord] = {}
        self._endpoints: dict[str, dict[str, EndpointRecord]] = {}
        self._dead: dict[int, DeadLetter] = {}
        self._http_cache: dict[str, Validators] = {}  # sf_http_cache (_fetch/conditional.py)

    async def open(self) -> None:
        self.opened = True

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        return {k: self._http_cache[k] for k in keys if k in self._http_cache}

    async def put_validators(self, entries: Mapping[str, Validators]) -> None:
        self._http_cache.update(entries)

    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        return await self._feed_state.get_page_marks(run_id, keys)

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None:
        await self._feed_state.put_page_marks(run_id, marks)

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        return await self._feed_state.get_cursors(keys)

    async def put_cursors(self, entries: Mapping[str, str]) -> None:
        await self._feed_state.put_cursors(entries)

    async def close(self) -> None:
        self.opened = False

    async def __aenter__(self) -> MemorySink:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- runs and the ledger -------------------------------------------------------------

    async def start_run(self, run: RunRecord, endpoints: Sequence[Endpoint]) -> None:
        old = self._runs.get(run.run_id)
        if old is not None:
            run = dataclasses.replace(old, status=run.status, finished_at=run.finished_at)
        self._runs[run.run_id] = run
        rows = self._endpoints.setdefault(run.run_id, {})
        for endpoint in endpoints:
            rows.setdefault(endpoint.key, EndpointRecord(endpoint, Outcome.PENDING))

    async def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        run = self._runs.get(run_id)
        if run is None:
            raise SinkError(f"no run {run_id!r} in {self.url}")
        finished = dt.datetime.now(dt.UTC)
        self._runs[run_id] = dataclasses.replace(
            run, status=status, finished_at=finished, summary=dict(summary)
        )

    async def get_run(self, run_id: str | None = None) -> RunRecord | None:
        if run_id is None:
            return next(reversed(self._runs.values()), None)
        return self._runs.get(run_id)

    async def record(self, records: Sequence[EndpointRecord], run_id: str) -> None:
        rows = self._endpoints.setdefault(run_id, {})
        for rec in records:
            rows[rec.endpoint.key] = dataclasses.replace(rec)

    async def endpoints(self, run_id: str) -> list[EndpointRecord]:
        return [dataclasses.replace(r) for r in self._endpoints.get(run_id, {}).values()]

    # -- data ------------------------------------------------------------------------------

    async def load(self, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
        """One call is one transaction, as in the SQL sinks: an unexpected error in any
        unit puts back everything the call changed, then propagates."""
        batch = _Undo()
        try:
            finals = [self._load_unit(unit, batch) for unit in units]
        except BaseException:
            batch.rollback()
            raise
        for unit, final in zip(units, finals, strict=True):
            unit.record = final  # only once the whole call succeeded
        return [dataclasses.replace(f) for f in finals]

    def _load_unit(self, unit: LoadUnit, batch: _Undo) -> EndpointRecord:
        quarantine = functools.partial(self._store_dead_letter, undo=batch)
        final = final_record(unit, self._try_unit(unit, batch), quarantine)
        batch.set(self._endpoints.setdefault(unit.run_id, {}), final.endpoint.key, final)
        return final

    def _try_unit(self, unit: LoadUnit, batch: _Undo) -> UnitStats | PayloadError:
        undo = _Undo()
        try:
            stats = _UnitWriter(self, unit, undo).load()
        except PayloadError as err:
            undo.rollback()
            return err
        except BaseException:
            undo.rollback()
            raise
        batch.absorb(undo)
        return stats

    def _recount(self, run_id: str, recount: Recount, undo: _Undo) -> None:
        """Records an earlier unit of this run wrote left the table: its ledger row says so."""
        rows = self._endpoints.get(run_id, {})
        for key, rec in rows.items():
            if rec.request_id == recount.request_id:
                counts = counts_of(rec)
                counts.move(recount.to, recount.n, recount.source)
                undo.set(rows, key, with_counts(rec, counts))
                return

    async def finish_source(self, run_id: str, source: str) -> int:
        """A paged source's delivery is complete: its lines from pages this delivery did
        not bring (or found unchanged) go, and shadows take their place (docs/contract.md §6)."""
        ledger = [
            r for r in self._endpoints.get(run_id, {}).values() if r.endpoint.source == source
        ]
        seen = {r.endpoint.url for r in ledger if r.outcome in (Outcome.LOADED, Outcome.UNCHANGED)}
        unchanged = {r.endpoint.url for r in ledger if r.outcome is Outcome.UNCHANGED}
        pieces = [
            (doc_key_text(snapshot_of_part(key)), doc.delivery)
            for (kind, key), doc in self._docs.items()
            if kind == DocKind.INVENTORY_SNAPSHOT.value and doc.delivery
            and doc.delivery.source == source
        ]  # fmt: skip
        removed = 0
        for snap, kept in swept_snapshots(pieces, run_id, seen, unchanged).items():
            table = self._lines.setdefault(snap, {})
            shadows = self._shadows.setdefault(snap, {})
            plan = plan_sweep(table, shadows.values(), run_id, source, kept)
            for sku in plan.delete:
                del table[sku]
            for copy in plan.upsert:
                table[copy.sku] = copy
            for copy in plan.drop_shadows:
                del shadows[copy.ident]
            removed += len(plan.delete) + len(plan.upsert)
            self._forget_parts(
                snap, functools.partial(is_swept, run_id=run_id, source=source, kept_pages=kept)
            )
        return removed

    def _forget_parts(self, snap: str, swept: Callable[[Delivery], bool]) -> None:
        for ident, doc in list(self._docs.items()):
            if ident[0] != DocKind.INVENTORY_SNAPSHOT.value or doc.delivery is None:
                continue
            if swept(doc.delivery) and doc_key_text(snapshot_of_part(ident[1])) == snap:
                del self._docs[ident]

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        if table not in _PK:
            raise SinkError(f"unknown table {table!r}")
        names, pk = TABLES[table].column_names, _PK[table]
        rows = [r for doc in self._rows.values() for r in doc.get(table, ())]
        if table == "inventory_positions":
            rows = [copy_row(_snap_key(k), c) for k, t in self._lines.items() for c in t.values()]
        rows.sort(key=lambda r: tuple(r[i] for i in pk))
        return [dict(zip(names, r, strict=True)) for r in rows]

    async def checkpoint(self) -> None:
        """Nothing to do: there is no write-ahead log of ours to fold in."""

    async def conflicts(self, run_id: str | None = None) -> list[Conflict]:
        """The conflicts stored (``sf_conflicts``), of one run or of all."""
        return [c for r, c in self._conflicts.values() if run_id in (None, r)]

    # -- dead letters ------------------------------------------------------------------

    def _store_dead_letter(self, unit: LoadUnit, err: PayloadError, *, undo: _Undo) -> int | None:
        """Store a new letter (None), or a sighting of the open one with these bytes (its
        id), through ``undo``: a call that fails later takes its letters back too."""
        ep = unit.record.endpoint
        found = self._open_letter(ep.key, unit.body.sha256)
        if found is not None:  # the same bytes again: one more sighting, not another copy
            seen = Sighting(unit.run_id, unit.record.request_id, dt.datetime.now(dt.UTC))
            undo.set(self._dead, found.id, dataclasses.replace(
                found,
                error_kind=err.kind,
                error_where=err.where,
                error_message=err.message,
                sightings=(*found.sightings, seen),
            ))  # fmt: skip
            return found.id
        letter_id = len(self._dead) + 1
        undo.set(self._dead, letter_id, DeadLetter(
            *(letter_id, unit.run_id, ep.key, ep.supplier_id, ep.kind, ep.format, ep.url),
            *(unit.record.request_id, err.kind, err.where, err.message),
            *(unit.body.size, unit.body.sha256, dt.datetime.now(dt.UTC), None),
            # A copy: the pipeline may discard a spooled body once load returns.
            Body(data=unit.body.read(), sha256=unit.body.sha256),
            mapping=unit.mapping,
        ))  # fmt: skip
        return None

    async def trace(self, request_id: str) -> RequestTrace:
        ledger = [
            (run_id, dataclasses.replace(r))
            for run_id, records in self._endpoints.items()
            for r in records.values()
            if r.request_id == request_id
        ]
        letters = [
            d
            for d in self._dead.values()
            if request_id in (d.request_id, *(s.request_id for s in d.sightings))
        ]
        return RequestTrace(request_id, ledger, letters, self._rows_of(request_id))

    def _rows_of(self, request_id: str) -> dict[str, int]:
        counts = dict.fromkeys(TRACED_TABLES, 0)
        counts["inventory_positions"] = sum(
            c.delivery.request_id == request_id for t in self._lines.values() for c in t.values()
        )
        counts["sf_documents"] = sum(
            d.delivery is not None and d.delivery.request_id == request_id
            for ident, d in self._docs.items()
            if ident[0] == DocKind.INVENTORY_SNAPSHOT.value
        )
        for doc in self._rows.values():
            carried = 0
            for table, rows in doc.items():
                column = _REQUEST_ID[table]
                n = sum(1 for r in rows if r[column] == request_id)
                counts[table] += n
                carried += n
            counts["sf_documents"] += carried > 0  # a document is written whole by one request
        return counts

    def _open_letter(self, endpoint_key: str, sha256: str) -> DeadLetter | None:
        for d in self._dead.values():
            if (d.endpoint_key, d.sha256, d.resolved_at) == (endpoint_key, sha256, None):
                return d
        return None

    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        return [d for d in self._dead.values() if include_resolved or d.resolved_at is None]

    async def replay(
        self, dead_letter_id: int, documents: Callable[[Body], Iterator[Document]]
    ) -> EndpointRecord:
        letter = self._dead.get(dead_letter_id)
        if letter is None:
            raise SinkError(f"no dead letter {dead_letter_id} in {self.url}")
        stored = self._endpoints.get(letter.run_id, {}).get(letter.endpoint_key)
        unit = replay_unit(letter, dataclasses.replace(stored) if stored else None, documents)
        outcome = self._try_unit(unit, _Undo())
        if isinstance(outcome, PayloadError):
            self._dead[letter.id] = dataclasses.replace(
                letter,
                error_kind=outcome.kind,
                error_where=outcome.where,
                error_message=outcome.message,
            )
            raise outcome
        final = loaded_record(unit, outcome)
        self._endpoints.setdefault(unit.run_id, {})[final.endpoint.key] = final
        self._dead[letter.id] = dataclasses.replace(letter, resolved_at=dt.datetime.now(dt.UTC))
        return dataclasses.replace(final)


class _Undo:
    """The undo log of one unit: every dict entry it changes, put back if it fails."""

    def __init__(self) -> None:
        self._log: list[tuple[dict[Any, Any], Any, Any]] = []

    def set(self, d: dict[Any, Any], key: Any, value: Any) -> None:
        self._log.append((d, key, d.get(key, _MISSING)))
        d[key] = value

    def pop(self, d: dict[Any, Any], key: Any) -> None:
        if key in d:
            self._log.append((d, key, d[key]))
            del d[key]

    def absorb(self, other: _Undo) -> None:
        """Take ``other``'s entries: a unit's changes become part of its call's."""
        self._log.extend(other._log)
        other._log.clear()

    def rollback(self) -> None:
        for d, key, old in reversed(self._log):
            if old is _MISSING:
                d.pop(key, None)
            else:
                d[key] = old
        self._log.clear()


_MISSING: Final = object()


class _UnitWriter:
    """One unit's documents, applied to the sink's dicts through the planner."""

    def __init__(self, sink: MemorySink, unit: LoadUnit, undo: _Undo) -> None:
        self._sink = sink
        self._unit = unit
        self._undo = undo
        self._delivery = delivery_of(unit)
        self._prov: Provenance = provenance(unit)
        self.stats = UnitStats()

    def load(self) -> UnitStats:
        for spec, key, parts in group_documents(guarded(self._unit.documents)):
            self.stats.documents += 1
            docs = list(parts)
            self.stats.records += sum(map(line_count, docs))
            if spec.kind is DocKind.INVENTORY_SNAPSHOT:
                self._part(key, docs)  # type: ignore[arg-type]
            else:
                self._document(spec, key, docs[0])
        return self.stats

    def _part(self, key: tuple[str, ...], docs: list[InventorySnapshot]) -> None:
        sink, delivery = self._sink, self._delivery
        ident = part_ident(key, delivery)
        version, digest = version_of(docs[0]), content_hash(docs)
        n = sum(map(line_count, docs))
        stored = sink._docs.get(ident)
        action = plan_part(stored, version, digest, delivery, paged=self._unit.paged)
        if action in (PartAction.UNCHANGED, PartAction.STALE):
            self.stats.counts.add(Bucket(action.value), n)
            self.stats.stale_documents += action is PartAction.STALE
            return
        snap = doc_key_text(key)
        table = sink._lines.setdefault(snap, {})
        shadows = sink._shadows.setdefault(snap, {})
        incoming = unique_skus([c for doc in docs for c in line_copies(doc, delivery)])
        replace = delivery if action is PartAction.REPLACE else None
        plan = plan_lines(incoming, table, shadows.values(), replace=replace)
        for copy in plan.upsert:
            self._undo.set(table, copy.sku, copy)
        for sku in plan.delete:
            self._undo.pop(table, sku)
        for copy in plan.drop_shadows:
            self._undo.pop(shadows, copy.ident)
        for copy in plan.add_shadows:
            self._undo.set(shadows, copy.ident, copy)
        self._count(plan.counts, plan.recounts, line_conflicts(snap, plan.conflicts))
        records = part_records(stored, delivery, n)
        self._undo.set(sink._docs, ident, StoredDoc(version, digest, delivery, records))

    def _document(self, spec: DocSpec, key: tuple[str, ...], doc: Document) -> None:
        sink, delivery = self._sink, self._delivery
        ident = (spec.kind.value, doc_key_text(key))
        version, digest, n = version_of(doc), content_hash(doc), line_count(doc)
        stored = sink._docs.get(ident)
        plan = plan_document(stored, version, digest, delivery)
        self.stats.stale_documents += plan.action is DocAction.STALE
        counts = Counts()
        counts.add(plan.bucket, n)
        conflicts = []
        if plan.conflict:
            ours = {"content_hash": digest, "rows": rows_for(doc)}
            theirs = {
                "content_hash": stored.content_hash if stored else None,
                "rows": sink._rows.get(ident, {}),
            }
            other = stored.delivery if stored and stored.delivery else delivery
            won = plan.action is DocAction.WRITE
            conflicts.append(
                Conflict(
                    ident[0],
                    ident[1],
                    None,
                    delivery if won else other,
                    ours if won else theirs,
                    other if won else delivery,
                    theirs if won else ours,
                )
            )
        if plan.action is DocAction.WRITE:
            rows = rows_for(doc, self._prov)
            _check_unique(rows)
            self._undo.set(sink._docs, ident, StoredDoc(version, digest, delivery, n))
            self._undo.set(sink._rows, ident, rows)
        self._count(counts, [plan.recount] if plan.recount else [], conflicts)

    def _count(self, counts: Counts, recounts: list[Recount], conflicts: list[Conflict]) -> None:
        mine = self.stats.counts
        for bucket in Bucket:
            mine.add(bucket, getattr(counts, bucket.value))
        for r in apply_recounts(recounts, {self._delivery.request_id: mine}):
            self._sink._recount(self._unit.run_id, r, self._undo)
        for c in conflicts:
            self.stats.conflicts.append(c)
            self._undo.set(
                self._sink._conflicts, len(self._sink._conflicts), (self._unit.run_id, c)
            )


def _snap_key(text: str) -> tuple[str, ...]:
    return tuple(msgspec.json.decode(text))


def _check_unique(rows: _DocRows) -> None:
    """A duplicate line key inside one document: the SQL sinks' primary keys refuse it."""
    for table, table_rows in rows.items():
        pk = _PK[table]
        if len({tuple(r[i] for i in pk) for r in table_rows}) != len(table_rows):
            raise PayloadError(
                f"rows violate the table's constraints: duplicate key in {table}",
                kind="constraint",
            )
