"""Protocol 4: one request id leads from a log line to the ledger row and the dead letter."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml

from supplyfeed._feedsfile import parse_feeds
from supplyfeed._sink.factory import open_sink
from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed._telemetry.logging import CONTEXT_FIELDS
from supplyfeed.sim import Fault, SupplierFleet

from .helpers import fleet_spec, run


async def test_request_id_in_json_logs_matches_ledger_and_dead_letter(tmp_path: Path) -> None:
    """A malformed payload: its log lines, ledger row and dead letter share one request id;
    every line carries the context fields and no secret from the URL."""
    logs = io.StringIO()
    url = f"sqlite:///{tmp_path / 'run.db'}"
    spec = fleet_spec(6, faults={2: Fault("malformed")})
    async with SupplierFleet(spec) as fleet:
        doc = fleet.feeds_document(sink=url)
        for supplier in doc["suppliers"]:  # a secret in the query string must never be logged
            for feed in supplier["feeds"]:
                feed["urls"] = [f"{u}?api_key=s3cret-value" for u in feed["urls"]]
        feeds = parse_feeds(yaml.safe_dump(doc), "<test>", {})
        sink = open_sink(url)
        await sink.open()
        try:
            telemetry = Telemetry(TelemetryOptions(log_format="json", log_stream=logs))
            summary = await run(feeds, sink, telemetry)
            ledger = await sink.endpoints(summary.run_id)
            dead = await sink.dead_letters()
        finally:
            await sink.close()

    text = logs.getvalue()
    assert "s3cret-value" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(set(CONTEXT_FIELDS) <= set(line) for line in lines)
    (quarantined,) = [x for x in lines if "quarantined" in x["message"]]
    request_id = quarantined["request_id"]
    (row,) = [r for r in ledger if r.outcome.value == "quarantined"]
    (letter,) = dead
    assert row.request_id == request_id
    assert letter.request_id == request_id
    # the fetch task's own line for that request: all fields bound through contextvars
    (fetched,) = [
        x for x in lines if x["request_id"] == request_id and x["logger"].endswith("fetch")
    ]
    assert fetched["run_id"] == summary.run_id
    assert fetched["supplier"] == row.endpoint.supplier_id
    assert fetched["kind"] == row.endpoint.kind.value
    assert fetched["attempt"] == 1
    assert "api_key=REDACTED" in fetched["url"]
    # one line per fetched endpoint, each with a distinct request id
    fetch_lines = [x for x in lines if x["logger"] == "supplyfeed.fetch"]
    assert len({x["request_id"] for x in fetch_lines}) == len(ledger) == 6
