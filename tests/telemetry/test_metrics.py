"""Metrics: scraped during a run and parsed with prometheus_client's parser; textfile."""

from __future__ import annotations

import asyncio
import os
import threading
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed._telemetry.metrics import Metrics
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
    # the batch-job gauges while the run goes: time so far, no success known yet
    assert live["supplyfeed_run_duration_seconds"][0][1] > 0
    assert "supplyfeed_run_records_loaded" in live
    assert "supplyfeed_last_success_timestamp_seconds" not in live

    final = _samples(textfile.read_text())
    # one of 12 quarantined is above the 2% threshold: not a success, none known before
    assert "supplyfeed_last_success_timestamp_seconds" not in final
    assert final["supplyfeed_run_duration_seconds"] == [({}, summary.wall_seconds)]
    assert final["supplyfeed_run_records_loaded"] == [({}, summary.buckets["loaded"])]
    records_by_kind = {lb["kind"]: v for lb, v in final["supplyfeed_records_total"]}
    assert sum(records_by_kind.values()) == summary.records
    assert sum(v for _lb, v in final["supplyfeed_dead_letters_total"]) == 1
    assert sum(v for _lb, v in final["supplyfeed_endpoints_total"]) == 12
    assert sum(v for _lb, v in final["supplyfeed_response_bytes_total"]) > 0
    # the server's descriptors are all open before the leak check's baseline
    assert summary.report["leaks"]["leaked"] is False


def _reference_registry() -> CollectorRegistry:
    """The metrics as prometheus_client's own Counter/Histogram would expose them."""
    r = CollectorRegistry()
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
    lag_buckets = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
    requests = Counter("supplyfeed_requests", "", ["outcome"], registry=r)
    retries = Counter("supplyfeed_retries", "", ["reason"], registry=r)
    latency = Histogram(
        "supplyfeed_request_duration_seconds", "", ["host"], buckets=buckets, registry=r
    )
    size = Counter("supplyfeed_response_bytes", "", ["supplier"], registry=r)
    endpoints = Counter("supplyfeed_endpoints", "", ["kind", "outcome"], registry=r)
    records = Counter("supplyfeed_records", "", ["kind"], registry=r)
    dead = Counter("supplyfeed_dead_letters", "", ["kind"], registry=r)
    Gauge("supplyfeed_in_flight_requests", "", registry=r).set(3)
    Gauge("supplyfeed_last_success_timestamp_seconds", "", registry=r).set(1.7e9)
    Gauge("supplyfeed_run_duration_seconds", "", registry=r).set(12.5)
    Gauge("supplyfeed_run_records_loaded", "", registry=r).set(50)
    lag = Histogram("supplyfeed_event_loop_lag_seconds", "", buckets=lag_buckets, registry=r)
    for i, seconds in enumerate(_LATENCIES):
        requests.labels("ok" if i % 3 else "http_503").inc()
        latency.labels(f"h{i % 2}:80").observe(seconds)
    retries.labels("http_503").inc(2)
    size.labels("s1").inc(100)
    endpoints.labels("inventory", "loaded").inc()
    endpoints.labels("inventory", "quarantined").inc()
    records.labels("inventory").inc(50)
    dead.labels("inventory").inc()
    for seconds in _LAGS:
        lag.observe(seconds)
    return r


_LATENCIES = (0.001, 0.005, 0.0051, 0.3, 31.0, 2.5, 0.02)
_LAGS = (0.0, 0.001, 0.3, 7.0)


def _comparable(registry: CollectorRegistry) -> list[tuple[str, str, list[Any]]]:
    """Every family's name, type and samples; ``_created`` timestamps zeroed."""
    families = text_string_to_metric_families(generate_latest(registry).decode())
    return sorted(
        (f.name, f.type, sorted(
            (s.name, sorted(s.labels.items()), 0.0 if s.name.endswith("_created") else s.value)
            for s in f.samples
        ))
        for f in families
    )  # fmt: skip


def test_exposition_matches_prometheus_client_metrics() -> None:
    """Plain counters and bucket lists on the hot path, exported by a collector: the same
    families, types, labels, buckets (``le`` inclusive), counts and sums as
    prometheus_client's Counter and Histogram given the same updates."""
    metrics = Metrics()
    metrics.track_in_flight(lambda: 3)
    for i, seconds in enumerate(_LATENCIES):
        metrics.request("ok" if i % 3 else "http_503", f"h{i % 2}:80", seconds)
    metrics.retry("http_503")
    metrics.retry("http_503")
    metrics.payload("s1", 100)
    metrics.endpoint("inventory", "loaded", 50)
    metrics.endpoint("inventory", "quarantined", 0)
    for seconds in _LAGS:
        metrics.observe_lag(seconds)
    metrics.run.finish(duration=12.5, records_loaded=50, succeeded_at=1.7e9)
    assert _comparable(metrics.registry) == _comparable(_reference_registry())


def test_metrics_server_stops_and_closes_its_descriptors() -> None:
    """No shutdown poll: the serving thread sleeps in select() with no timeout, so only
    close()'s wake-up ends it (without one, close() would wait forever: the guard below
    fails instead); every descriptor the server opened (all in serve()) is closed."""
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    metrics = Metrics()
    port = metrics.serve(0, "127.0.0.1")
    serving = next(t for t in threading.enumerate() if t.name == "supplyfeed-metrics")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
        assert b"supplyfeed_requests_total" in resp.read()
    assert serving.is_alive()
    closer = threading.Thread(target=metrics.close, name="test-close")
    closer.start()
    closer.join(timeout=30)  # a guard against a hang, not a speed bound
    assert not closer.is_alive()
    assert not serving.is_alive()
    assert metrics.address is None
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds


def test_metrics_listen_on_loopback_unless_an_address_is_given() -> None:
    """No address: /metrics binds 127.0.0.1, not every interface; a given one is used."""
    default = Metrics()
    explicit = Metrics()
    try:
        default.serve(0)
        explicit.serve(0, "127.0.0.2")
        assert default.address is not None
        assert default.address[0] == "127.0.0.1"
        assert explicit.address is not None
        assert explicit.address[0] == "127.0.0.2"
    finally:
        default.close()
        explicit.close()
    assert TelemetryOptions().metrics_addr == "127.0.0.1"
