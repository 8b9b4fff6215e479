"""The in-memory fake sink that ships with the package, for tests of the pipeline.

Same semantics as the SQL sinks (the shared rules live in :mod:`.semantics` and the rows
come from :mod:`.schema`), held in dicts. A unit is atomic through an undo log: every
document it changed is put back if its decoder raises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

from .._exceptions import PayloadError, SinkError
from .._fetch.conditional import Validators
from .._formats.body import Body
from .._models import Document, InventorySnapshot
from .base import (
    DeadLetter,
    Endpoint,
    EndpointRecord,
    LoadUnit,
    Outcome,
    RequestTrace,
    RunRecord,
    Sighting,
)
from .schema import (
    CANONICAL_TABLES,
    TABLES,
    TRACED_TABLES,
    DocHasher,
    DocSpec,
    Provenance,
    Row,
    doc_key_text,
    header_rows,
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
    loaded_record,
    quarantined_record,
    replay_unit,
)

__all__ = ["MemorySink"]

_Ident = tuple[str, str]  # doc_type, doc_key
_DocRows = dict[str, list[Row]]
_Saved = tuple[StoredDoc | None, _DocRows | None]


def _pk_indexes() -> dict[str, tuple[int, ...]]:
    return {t.name: tuple(t.column_names.index(c) for c in t.primary_key) for t in CANONICAL_TABLES}


_PK = _pk_indexes()
_REQUEST_ID = {t.name: t.column_names.index("request_id") for t in CANONICAL_TABLES}


class MemorySink:
    """A :class:`~supplyfeed._sink.base.Sink` in dicts. Nothing survives the process."""

    def __init__(self, url: str = "memory://", **_options: Any) -> None:
        self.url = url
        self.opened = False
        self._docs: dict[_Ident, StoredDoc] = {}
        self._rows: dict[_Ident, _DocRows] = {}
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
        finals = []
        for unit in units:
            outcome = self._try_unit(unit)
            if isinstance(outcome, PayloadError):
                known = self._store_dead_letter(unit, outcome)
                final = quarantined_record(unit, outcome, known)
            else:
                final = loaded_record(unit, outcome)
            self._endpoints.setdefault(unit.run_id, {})[final.endpoint.key] = final
            unit.record = final
            finals.append(dataclasses.replace(final))
        return finals

    def _try_unit(self, unit: LoadUnit) -> UnitStats | PayloadError:
        undo: dict[_Ident, _Saved] = {}
        try:
            return _UnitWriter(self, unit, undo).load()
        except PayloadError as err:
            for ident, (doc, rows) in undo.items():
                self._restore(ident, doc, rows)
            return err

    def _restore(self, ident: _Ident, doc: StoredDoc | None, rows: _DocRows | None) -> None:
        if doc is None:
            self._docs.pop(ident, None)
        else:
            self._docs[ident] = doc
        if rows is None:
            self._rows.pop(ident, None)
        else:
            self._rows[ident] = rows

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        if table not in _PK:
            raise SinkError(f"unknown table {table!r}")
        names, pk = TABLES[table].column_names, _PK[table]
        rows = [r for doc in self._rows.values() for r in doc.get(table, ())]
        rows.sort(key=lambda r: tuple(r[i] for i in pk))
        return [dict(zip(names, r, strict=True)) for r in rows]

    # -- dead letters ------------------------------------------------------------------

    def _store_dead_letter(self, unit: LoadUnit, err: PayloadError) -> int | None:
        """Store a new letter (None), or a sighting of the open one with these bytes (its id)."""
        ep = unit.record.endpoint
        found = self._open_letter(ep.key, unit.body.sha256)
        if found is not None:  # the same bytes again: one more sighting, not another copy
            seen = Sighting(unit.run_id, unit.record.request_id, dt.datetime.now(dt.UTC))
            self._dead[found.id] = dataclasses.replace(
                found,
                error_kind=err.kind,
                error_where=err.where,
                error_message=err.message,
                sightings=(*found.sightings, seen),
            )
            return found.id
        letter_id = len(self._dead) + 1
        self._dead[letter_id] = DeadLetter(
            *(letter_id, unit.run_id, ep.key, ep.supplier_id, ep.kind, ep.format, ep.url),
            *(unit.record.request_id, err.kind, err.where, err.message),
            *(unit.body.size, unit.body.sha256, dt.datetime.now(dt.UTC), None),
            # A copy: the pipeline may discard a spooled body once load returns.
            Body(data=unit.body.read(), sha256=unit.body.sha256),
        )
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
        outcome = self._try_unit(unit)
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


class _UnitWriter:
    """One unit's documents, applied to the sink's dicts with an undo entry each."""

    def __init__(self, sink: MemorySink, unit: LoadUnit, undo: dict[_Ident, _Saved]) -> None:
        self._sink = sink
        self._unit = unit
        self._undo = undo
        self._prov: Provenance = (unit.run_id, unit.record.endpoint.url, unit.record.request_id)
        self.stats = UnitStats()

    def load(self) -> UnitStats:
        for spec, key, parts in group_documents(guarded(self._unit.documents)):
            first = next(parts)
            self.stats.documents += 1
            self._document(spec, key, first, parts)
        return self.stats

    def _document(
        self, spec: DocSpec, key: tuple[str, ...], first: Document, rest: Iterator[Document]
    ) -> None:
        ident = (spec.kind.value, doc_key_text(key))
        hasher = DocHasher(first)
        rows = header_rows(first, self._prov)
        for part in chain([first], rest):
            hasher.add(part)
            self.stats.records += len(
                part.items if isinstance(part, InventorySnapshot) else part.lines
            )
            for table, part_rows in line_rows(part, self._prov).items():
                rows.setdefault(table, []).extend(part_rows)
        version, digest = version_of(first), hasher.hexdigest()
        decision = decide(self._sink._docs.get(ident), version, digest)
        self.stats.stale_documents += decision is Decision.STALE
        if decision is Decision.WRITE:
            _check_unique(rows)
            if ident not in self._undo:
                self._undo[ident] = (self._sink._docs.get(ident), self._sink._rows.get(ident))
            self._sink._docs[ident] = StoredDoc(version, digest)
            self._sink._rows[ident] = rows


def _check_unique(rows: _DocRows) -> None:
    """A duplicate line key inside one document: the SQL sinks' primary keys refuse it."""
    for table, table_rows in rows.items():
        pk = _PK[table]
        if len({tuple(r[i] for i in pk) for r in table_rows}) != len(table_rows):
            raise PayloadError(
                f"rows violate the table's constraints: duplicate key in {table}",
                kind="constraint",
            )
