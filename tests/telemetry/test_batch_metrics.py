"""Batch-job metrics: last success, run duration and records loaded, in the textfile and
on /metrics; a failed run keeps the last success an earlier run wrote."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from supplyfeed._run.summary import RunSummary
from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed._telemetry.metrics import Metrics, RunGauges, last_success_in
from supplyfeed.sim import Fault, SupplierFleet

from .helpers import feeds_for, fleet_spec, run_and_read

_GAUGES = (
    "supplyfeed_last_success_timestamp_seconds",
    "supplyfeed_run_duration_seconds",
    "supplyfeed_run_records_loaded",
)


def _gauges(text: str) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in _GAUGES
    }


async def _run(db: Path, textfile: Path, faults: dict[int, Fault]) -> RunSummary:
    url = f"sqlite:///{db}"
    async with SupplierFleet(fleet_spec(8, faults=faults)) as fleet:
        telemetry = Telemetry(TelemetryOptions(metrics_file=textfile))
        summary, ledger = await run_and_read(feeds_for(fleet, url), url, telemetry)
    assert summary.buckets["loaded"] == sum(r.records_loaded for r in ledger)
    return summary


async def test_textfile_has_batch_gauges_and_a_failed_run_keeps_the_last_success(
    tmp_path: Path,
) -> None:
    """A clean run writes when it succeeded, how long it took and what it loaded; a
    second run with most endpoints failing writes its own duration and records but the
    first run's success time, so ``time() - last_success`` keeps growing."""
    textfile = tmp_path / "supplyfeed.prom"
    before = time.time()
    ok = await _run(tmp_path / "a.db", textfile, {})
    after = time.time()
    first = _gauges(textfile.read_text())
    assert ok.ok
    assert before <= first[_GAUGES[0]] <= after
    assert first[_GAUGES[1]] == ok.wall_seconds
    assert first[_GAUGES[2]] == ok.buckets["loaded"] == 8 * 3
    failing = {i: Fault.not_found() for i in range(5)}
    bad = await _run(tmp_path / "b.db", textfile, failing)
    second = _gauges(textfile.read_text())
    assert bad.flagged
    assert second[_GAUGES[0]] == first[_GAUGES[0]]
    assert second[_GAUGES[1]] == bad.wall_seconds
    assert second[_GAUGES[2]] == bad.buckets["loaded"] == 3 * 3


def test_run_gauges_report_time_so_far_then_the_final_figures() -> None:
    """On an injected clock: no duration before the start, the time so far while the run
    goes, the final figure after; a run that did not succeed keeps the last success."""
    now = [100.0]
    gauges = RunGauges(clock=lambda: now[0])
    before_start = gauges.duration
    assert before_start is None
    gauges.start()
    now[0] = 103.5
    assert gauges.duration == 3.5
    gauges.finish(duration=4.0, records_loaded=7, succeeded_at=1_700_000_000.0)
    now[0] = 200.0
    assert (gauges.duration, gauges.records_loaded, gauges.last_success) == (4.0, 7, 1.7e9)
    gauges.finish(duration=2.0, records_loaded=0, succeeded_at=None)
    assert (gauges.duration, gauges.last_success) == (2.0, 1.7e9)


def test_metrics_endpoint_serves_the_batch_gauges() -> None:
    """/metrics (a real server on 127.0.0.1) has the run's duration so far and records
    loaded so far; no last-success sample until one is known."""
    now = [10.0]
    metrics = Metrics()
    metrics.run = RunGauges(clock=lambda: now[0])
    metrics.run.start()
    metrics.run.records_loaded = 42
    now[0] = 12.25
    port = metrics.serve(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            served = _gauges(r.read().decode())
    finally:
        metrics.close()
    assert served == {_GAUGES[1]: 2.25, _GAUGES[2]: 42.0}


def test_last_success_is_read_from_an_earlier_textfile_only(tmp_path: Path) -> None:
    """A missing or unreadable textfile, or one without the gauge, gives no last success."""
    metrics = Metrics()
    metrics.run.finish(duration=1.0, records_loaded=1, succeeded_at=1_234.5)
    good = tmp_path / "good.prom"
    metrics.write_textfile(good)
    assert last_success_in(good) == 1_234.5
    assert last_success_in(tmp_path / "missing.prom") is None
    (tmp_path / "bad.prom").write_bytes(b"\xff\xfe supplyfeed_last_success_timestamp_seconds x")
    assert last_success_in(tmp_path / "bad.prom") is None
    (tmp_path / "other.prom").write_text("supplyfeed_last_success_timestamp_seconds abc\n")
    assert last_success_in(tmp_path / "other.prom") is None
