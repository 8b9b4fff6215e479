"""JSON logs of a real run: every line has the event fields, each request event its
status, bytes, duration and error kind as the ledger has them, and one ``run_finished``
line carries the summary's figures."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed._telemetry.logging import CONTEXT_FIELDS, EVENT_FIELDS, LogSetup
from supplyfeed.sim import Fault, SupplierFleet

from .helpers import feeds_for, fleet_spec, run_and_read

_FAULTS = {1: Fault.fail_then_ok(503, times=1), 3: Fault.not_found(), 5: Fault("malformed")}


async def _logged_run(tmp_path: Path) -> tuple[list[dict[str, Any]], Any, list[Any]]:
    logs = io.StringIO()
    url = f"sqlite:///{tmp_path / 'run.db'}"
    async with SupplierFleet(fleet_spec(10, hosts=2, faults=_FAULTS)) as fleet:
        feeds = feeds_for(fleet, url, backoff_initial=0.01, backoff_max=0.02)
        telemetry = Telemetry(TelemetryOptions(log_format="json", log_stream=logs))
        summary, ledger = await run_and_read(feeds, url, telemetry)
    return [json.loads(line) for line in logs.getvalue().splitlines()], summary, ledger


def _by_event(lines: list[dict[str, Any]], event: str) -> dict[str, dict[str, Any]]:
    found = [x for x in lines if x["event"] == event]
    by_id = {x["request_id"]: x for x in found}
    assert len(by_id) == len(found), f"two {event} lines for one request"
    return by_id


async def test_request_events_carry_status_bytes_duration_and_error_kind(tmp_path: Path) -> None:
    """One ``fetched`` or ``fetch_failed`` line per endpoint (none lost, none twice), each
    with the ledger row's status, bytes and time; the 503 retried has an
    ``attempt_failed`` line; the malformed payload a ``dead_letter`` line."""
    lines, summary, ledger = await _logged_run(tmp_path)
    assert all(set(CONTEXT_FIELDS) | set(EVENT_FIELDS) <= set(x) for x in lines)
    fetched, failed = _by_event(lines, "fetched"), _by_event(lines, "fetch_failed")
    assert sorted([*fetched, *failed]) == sorted(r.request_id for r in ledger if r.attempts)
    assert len(ledger) == summary.endpoints == 10
    for r in ledger:
        line = fetched.get(r.request_id) or failed[r.request_id]
        assert line["status"] == r.http_status, (line, r)
        assert abs(line["duration_s"] - r.elapsed) < 1e-3, (line, r)
        if r.request_id in fetched:
            assert (line["bytes"], line["error_kind"]) == (r.bytes, None)
        else:
            assert (line["bytes"], line["error_kind"]) == (None, r.error_kind)
    (not_found,) = [r for r in ledger if r.error_kind == "http_404"]
    assert failed[not_found.request_id]["status"] == 404
    (retried,) = [r for r in ledger if r.attempts == 2]
    attempt = _by_event(lines, "attempt_failed")[retried.request_id]
    assert (attempt["status"], attempt["error_kind"], attempt["attempt"]) == (503, "http_503", 1)
    assert attempt["duration_s"] == retried.retry_history[0]["elapsed"]
    (letter,) = _by_event(lines, "dead_letter").values()
    (quarantined,) = [r for r in ledger if r.outcome.value == "quarantined"]
    assert letter["request_id"] == quarantined.request_id
    assert (letter["error_kind"], letter["bytes"]) == (quarantined.error_kind, quarantined.bytes)


async def test_run_finished_line_has_the_summary_figures(tmp_path: Path) -> None:
    """The last line is ``run_finished``: its duration, bytes and figures are the run
    summary's (so a log pipeline needs no other source for the run's totals)."""
    lines, summary, _ = await _logged_run(tmp_path)
    finished = [x for x in lines if x["event"] == "run_finished"]
    assert finished == [lines[-1]]
    (line,) = finished
    figures = summary.to_dict()
    assert line["run_id"] == summary.run_id
    assert (line["duration_s"], line["bytes"]) == (figures["wall_seconds"], summary.bytes)
    shown = line["summary"]
    for key in ("endpoints", "outcomes", "failures_by_reason", "records", "records_loaded",
                "records_by_bucket", "error_rate", "flagged", "interrupted", "ok"):  # fmt: skip
        assert shown[key] == figures[key], key
    assert shown["failed"] == 2  # the 404 and the dead letter
    assert shown["succeeded"] is False  # 2 of 10 failed: above the 2 % default threshold


def test_text_lines_leave_the_event_figures_to_the_json_log() -> None:
    """A text line keeps the context fields and the error kind, not the figures its
    message already says."""
    out = io.StringIO()
    logs = LogSetup("text", stream=out)
    try:
        fields = {"supplier": "S1", "event": "fetch_failed", "status": 404, "bytes": None,
                  "duration_s": 0.5, "error_kind": "http_404"}  # fmt: skip
        logging.getLogger("supplyfeed.fetch").warning("fetch failed", extra={"sf": fields})
    finally:
        logs.close()
    (line,) = out.getvalue().splitlines()
    assert line.endswith("[supplier=S1 error_kind=http_404]"), line
