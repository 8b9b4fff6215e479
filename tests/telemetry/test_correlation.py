"""Protocol 4: one request id leads from a log line to the ledger row and the dead letter."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from supplyfeed._cli.main import main
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._run.summary import RunSummary
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
                feed["urls"] = [f"{u}?api_key=${{API_KEY}}" for u in feed["urls"]]
        feeds = parse_feeds(yaml.safe_dump(doc), "<test>", {"API_KEY": "s3cret-value"})
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


def _two_runs(url: str, logs: io.StringIO) -> list[RunSummary]:
    """Two runs of one fleet into one database: endpoint 2 is malformed both times, 3 answers
    503 once and then loads."""
    spec = fleet_spec(6, faults={2: Fault("malformed"), 3: Fault.fail_then_ok(503, times=1)})

    async def runs() -> list[RunSummary]:
        out = []
        async with SupplierFleet(spec) as fleet:
            feeds = parse_feeds(yaml.safe_dump(fleet.feeds_document(sink=url)), "<test>", {})
            for _ in range(2):
                sink = open_sink(url)
                await sink.open()
                try:
                    options = TelemetryOptions(log_format="json", log_stream=logs)
                    out.append(await run(feeds, sink, Telemetry(options)))
                finally:
                    await sink.close()
        return out

    return asyncio.run(runs())


def test_trace_command_follows_a_request_id_to_ledger_retries_dead_letter_and_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``supplyfeed trace ID`` with an id read from a log line: the second run's quarantine
    leads to the dead letter the first run created; a retried fetch to its retry history
    and exactly the rows it wrote."""
    url = f"sqlite:///{tmp_path / 'run.db'}"
    logs = io.StringIO()
    first, second = _two_runs(url, logs)
    # The second run's quarantine is the same broken file: counted apart from new ones.
    assert (first.quarantined_known, second.quarantined_known) == (0, 1)
    assert second.outcomes["quarantined"] == 1
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]

    def trace(request_id: str) -> dict[str, Any]:
        assert main(["trace", request_id, "--db", url, "--json"]) == 0
        result: dict[str, Any] = json.loads(capsys.readouterr().out)
        return result

    quarantines = {x["run_id"]: x["request_id"] for x in lines if "quarantined" in x["message"]}
    again = trace(quarantines[second.run_id])
    [row] = again["endpoints"]
    assert (row["run_id"], row["outcome"]) == (second.run_id, "quarantined")
    [letter] = again["dead_letters"]
    assert (letter["run_id"], letter["request_id"]) == (first.run_id, quarantines[first.run_id])
    assert letter["occurrences"] == 2
    assert set(again["rows"].values()) == {0}

    [retried_id] = {
        x["request_id"] for x in lines if x["run_id"] == first.run_id and x["attempt"] == 2
    }
    retried = trace(retried_id)
    [row] = retried["endpoints"]
    assert [a["outcome"] for a in row["retry_history"]] == ["http_503", "ok"]
    line_rows = sum(
        retried["rows"][t] for t in ("inventory_positions", "po_ack_lines", "ship_notice_lines")
    )
    assert row["outcome"] == "loaded"
    assert line_rows == row["records"] == 3
    assert retried["dead_letters"] == []

    assert main(["dead-letters", "--db", url, "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["occurrences"]) == (letter["id"], 2)
    assert [s["request_id"] for s in listed["sightings"]] == [quarantines[second.run_id]]

    assert main(["trace", "no-such-request", "--db", url]) == 1
    assert "nothing in" in capsys.readouterr().err
