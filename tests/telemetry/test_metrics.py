"""Metrics: scraped during a run and parsed with prometheus_client's parser; textfile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed.sim import Fault, SupplierFleet

from .helpers import feeds_for, fleet_spec, run


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


async def test_metrics_endpoint_is_scraped_during_a_run(tmp_path: Path) -> None:
    """/metrics answers while the run goes; the textfile at the end has the totals."""
    textfile = tmp_path / "supplyfeed.prom"
    options = TelemetryOptions(metrics_port=0, metrics_addr="127.0.0.1", metrics_file=textfile)
    telemetry = Telemetry(options)
    spec = fleet_spec(12, latency=0.1, faults={0: Fault("malformed")})
    async with SupplierFleet(spec) as fleet, MemorySink() as sink:
        feeds = feeds_for(fleet, "memory://", limit_per_host=2)
        host = f"127.0.0.1:{fleet.ports[0]}"
        running = asyncio.create_task(run(feeds, sink, telemetry))
        while telemetry.observer.finished_count < 3:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.02)
        async with aiohttp.ClientSession() as client:
            url = f"http://127.0.0.1:{telemetry.metrics_port}/metrics"
            async with client.get(url) as resp:
                live = _samples(await resp.text())
        summary = await running

    ok = [v for labels, v in live["supplyfeed_requests_total"] if labels["outcome"] == "ok"]
    assert ok
    assert ok[0] >= 3
    counts = [
        v for lb, v in live["supplyfeed_request_duration_seconds_count"] if lb["host"] == host
    ]
    assert counts
    assert counts[0] >= 3
    assert "supplyfeed_in_flight_requests" in live
    assert "supplyfeed_event_loop_lag_seconds_count" in live

    final = _samples(textfile.read_text())
    records_by_kind = {lb["kind"]: v for lb, v in final["supplyfeed_records_total"]}
    assert sum(records_by_kind.values()) == summary.records
    assert sum(v for _lb, v in final["supplyfeed_dead_letters_total"]) == 1
    assert sum(v for _lb, v in final["supplyfeed_endpoints_total"]) == 12
    assert sum(v for _lb, v in final["supplyfeed_response_bytes_total"]) > 0
