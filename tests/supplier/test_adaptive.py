"""Adaptive per-host concurrency (AIMD) against a host that degrades under load."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from supplyfeed._config import SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.adaptive import HostWindow
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim.degrading import DegradingHost

from .helpers import QUICK, run


def test_window_halves_on_429_and_503_once_per_round_trip() -> None:
    """A burst of 503s from requests already in flight is one signal, not many."""
    w = HostWindow(ceiling=16, limit=15.0)
    w.on_result(status=200, latency=0.1, now=0.0)
    w.on_result(status=503, latency=0.1, now=1.0)
    assert w.limit == 8.0
    w.on_result(status=503, latency=0.1, now=1.05)  # within one smoothed RTT: ignored
    assert w.limit == 8.0
    w.on_result(status=429, latency=0.1, now=1.2)
    assert w.limit == 4.0
    assert w.decreases == 2


def test_window_grows_by_one_per_window_and_stays_in_bounds() -> None:
    """Slow start adds 1 per success; after a back-off 1/limit; always within [1, ceiling]."""
    w = HostWindow(ceiling=8)
    assert w.limit == 2.0
    w.on_result(status=200, latency=0.1, now=0.0)
    w.on_result(status=200, latency=0.1, now=0.5)
    assert w.limit == 4.0
    w.on_result(status=503, latency=0.1, now=1.0)
    assert w.limit == 2.0
    for i in range(2):
        w.on_result(status=200, latency=0.1, now=2.0 + i)
    assert w.limit == pytest.approx(2.0 + 1 / 2 + 1 / 2.5)
    for i in range(100):
        w.on_result(status=200, latency=0.1, now=10.0 + i)
    assert w.limit == 8.0
    for i in range(20):
        w.on_result(status=503, latency=0.1, now=200.0 + i)
    assert w.limit == 1.0
    assert w.allowed == 1


def test_rising_latency_backs_off() -> None:
    """Latency well above the lowest seen means the host queues: shrink by a quarter."""
    w = HostWindow(ceiling=8, latency_factor=2.0)
    w.on_result(status=200, latency=0.01, now=0.0)
    for i in range(10):
        w.on_result(status=200, latency=0.2, now=1.0 + i)
    assert w.limit < 8.0
    assert w.decreases >= 1


def feeds(host: DegradingHost, n: int, **overrides: Any) -> tuple[SupplierSpec, ...]:
    feed = {"kind": "inventory_snapshot", "format": "json", "urls": host.urls(n)}
    # The breaker is off: this test is about the window, not about giving up on a host.
    defaults = {**QUICK, "retry_attempts": 8, "limit_per_host": 24, "breaker_threshold": 0}
    doc = {"defaults": {**defaults, **overrides}, "suppliers": [{"id": "A", "feeds": [feed]}]}
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers


async def _run(n: int, **overrides: Any) -> tuple[Any, DegradingHost, list[str]]:
    async with DegradingHost(capacity=4, overload=8, base_latency=0.01) as host:
        suppliers = feeds(host, n, **overrides)
        sink = MemorySink()
        summary = await run(suppliers, sink, suppliers[0].config)
        rows = [r["warehouse_id"] for r in await sink.table_rows("inventory_positions")]
    return summary, host, rows


@pytest.mark.slow  # a degrading host on real time
async def test_adaptive_concurrency_avoids_overloading_a_degrading_host() -> None:
    """Fixed 24 per host triggers many 503s; AIMD finds the host's pace, loses nothing."""
    fixed, fixed_host, _ = await _run(80)
    adaptive, host, rows = await _run(80, adaptive_concurrency=True)
    assert adaptive.outcomes == {"loaded": 80}
    assert sorted(rows) == sorted(f"W{i}" for i in range(80))  # nothing lost or duplicated
    assert set(host.served.values()) == {1}
    assert host.statuses[503] < fixed_host.statuses[503] / 2
    assert fixed_host.statuses[503] > 0
    assert fixed.endpoints == 80
