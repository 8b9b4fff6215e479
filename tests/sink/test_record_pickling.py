"""Ledger records cross to the SQLite worker process and back by pickle (``base.py``
gives them a ``__reduce__`` by fields): every field survives, none is defaulted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle

from supplyfeed._config import FieldMapping
from supplyfeed._formats.base import DecodeContext
from supplyfeed._models import DocKind
from supplyfeed._sink.base import Conflict, Delivery, Endpoint, EndpointRecord, Outcome


def _record() -> EndpointRecord:
    endpoint = Endpoint("k1", "ACME", DocKind.SHIP_NOTICE, "x12", "https://127.0.0.1/a")
    delivery = Delivery("src", "https://127.0.0.1/a", "run-1", "req-1")
    conflict = Conflict("ship_notice", "ACME|A1", "1", delivery, {"q": 1}, delivery, {"q": 2})
    return EndpointRecord(
        endpoint, Outcome.QUARANTINED, attempts=3, http_status=200, error_kind="parse",
        error_message="bad segment", permanent=True, bytes=10, records=9, documents=2,
        stale_documents=1, request_id="req-1",
        started_at=dt.datetime(2026, 12, 3, 8, tzinfo=dt.UTC), elapsed=1.5,
        retry_history=[{"attempt": 1, "status": 503}], records_loaded=4, records_unchanged=1,
        records_stale=1, records_superseded=2, records_conflict=1, conflicts=[conflict],
    )  # fmt: skip


def test_a_record_and_its_endpoint_survive_a_pickle_round_trip() -> None:
    record = _record()
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        copy = pickle.loads(pickle.dumps(record, protocol=protocol))
        assert copy == record
        assert copy.endpoint == record.endpoint
    # Every field was given a value other than its default, so a field the reduction
    # forgot would come back defaulted and fail the equality above.
    other = Endpoint("k2", "ACME", DocKind.SHIP_NOTICE, "x12", "https://127.0.0.1/b")
    defaults = EndpointRecord(other, Outcome.PENDING)
    for f in dataclasses.fields(EndpointRecord):
        assert getattr(record, f.name) != getattr(defaults, f.name), f.name


def test_a_decode_context_survives_a_pickle_round_trip() -> None:
    mapping = FieldMapping(fields={"sku": "item"})
    context = DecodeContext(
        DocKind.INVENTORY_SNAPSHOT, "ACME", mapping, "warn", 7, ["a warning"], "none"
    )
    copy = pickle.loads(pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == context
