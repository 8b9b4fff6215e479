"""Ledger records to rows and back, in the column order of :mod:`.schema` (any SQL sink)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from .._config import FieldMapping
from .._formats.body import Body
from .._models import DocKind
from .base import DeadLetter, Endpoint, EndpointRecord, Outcome, RunRecord, Sighting
from .schema import Row

__all__ = [
    "dead_letter_from_row",
    "endpoint_row",
    "mapping_text",
    "record_from_row",
    "run_from_row",
    "run_row",
    "sightings_by_letter",
    "ts",
    "ts_parse",
]


def ts(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def ts_parse(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _json(value: Any) -> str:
    return msgspec.json.encode(value, order="sorted").decode()


def run_row(run: RunRecord) -> Row:
    return (
        run.run_id,
        ts(run.started_at),
        run.status,
        ts(run.finished_at),
        run.feeds,
        _json(run.summary),
    )


def run_from_row(row: Mapping[str, Any]) -> RunRecord:
    started = ts_parse(row["started_at"])
    assert started is not None
    return RunRecord(
        run_id=row["run_id"],
        started_at=started,
        status=row["status"],
        finished_at=ts_parse(row["finished_at"]),
        feeds=row["feeds"],
        summary=msgspec.json.decode(row["summary"]),
    )


def endpoint_row(run_id: str, rec: EndpointRecord) -> Row:
    ep = rec.endpoint
    return (
        *(run_id, ep.key, ep.supplier_id, DocKind(ep.kind).value, ep.format, ep.url),
        *(rec.outcome.value, rec.attempts, rec.http_status, rec.error_kind),
        *(rec.error_message, int(rec.permanent), rec.bytes, rec.records, rec.documents),
        *(rec.stale_documents, rec.request_id, ts(rec.started_at), rec.elapsed),
        _json(rec.retry_history),
        *(rec.records_loaded, rec.records_unchanged, rec.records_stale),
        *(rec.records_superseded, rec.records_conflict),
    )


def record_from_row(row: Mapping[str, Any]) -> EndpointRecord:
    endpoint = Endpoint(
        key=row["endpoint_key"],
        supplier_id=row["supplier_id"],
        kind=DocKind(row["kind"]),
        format=row["format"],
        url=row["url"],
    )
    return EndpointRecord(
        endpoint=endpoint,
        outcome=Outcome(row["outcome"]),
        attempts=row["attempts"],
        http_status=row["http_status"],
        error_kind=row["error_kind"],
        error_message=row["error_message"],
        permanent=bool(row["permanent"]),
        bytes=row["bytes"],
        records=row["records"],
        documents=row["documents"],
        stale_documents=row["stale_documents"],
        request_id=row["request_id"],
        started_at=ts_parse(row["started_at"]),
        elapsed=row["elapsed"],
        retry_history=msgspec.json.decode(row["retry_history"]),
        records_loaded=row["records_loaded"],
        records_unchanged=row["records_unchanged"],
        records_stale=row["records_stale"],
        records_superseded=row["records_superseded"],
        records_conflict=row["records_conflict"],
    )


def mapping_text(mapping: FieldMapping | None) -> str | None:
    """A feed's field mapping as a dead letter's ``mapping`` column holds it."""
    return None if mapping is None else _json(mapping)


def _mapping(text: str | None) -> FieldMapping | None:
    return None if text is None else msgspec.json.decode(text, type=FieldMapping)


def dead_letter_from_row(
    row: Mapping[str, Any], body: Body, sightings: Sequence[Sighting] = ()
) -> DeadLetter:
    created = ts_parse(row["created_at"])
    assert created is not None
    return DeadLetter(
        id=row["id"],
        run_id=row["run_id"],
        endpoint_key=row["endpoint_key"],
        supplier_id=row["supplier_id"],
        kind=DocKind(row["kind"]),
        format=row["format"],
        url=row["url"],
        request_id=row["request_id"],
        error_kind=row["error_kind"],
        error_where=row["error_where"],
        error_message=row["error_message"],
        size=row["size"],
        sha256=row["sha256"],
        created_at=created,
        resolved_at=ts_parse(row["resolved_at"]),
        body=body,
        sightings=tuple(sightings),
        mapping=_mapping(row["mapping"]),
    )


def sightings_by_letter(rows: Iterable[Mapping[str, Any]]) -> dict[int, list[Sighting]]:
    """``sf_dead_letter_sightings`` rows (in id order) grouped by their dead letter."""
    out: dict[int, list[Sighting]] = {}
    for row in rows:
        seen = ts_parse(row["seen_at"])
        assert seen is not None
        sighting = Sighting(row["run_id"], row["request_id"], seen)
        out.setdefault(row["dead_letter_id"], []).append(sighting)
    return out
