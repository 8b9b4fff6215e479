"""Protocol 2: a too-small limit_per_host is named as the bottleneck, with its peak."""

from __future__ import annotations

from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry import Telemetry
from supplyfeed.sim import SupplierFleet

from .helpers import feeds_for, findings, fleet_spec, run


async def test_a_too_small_limit_per_host_is_reported_as_the_bottleneck() -> None:
    """limit_per_host=2 against a slow host: queue wait dominates and the report says so."""
    async with SupplierFleet(fleet_spec(16, latency=0.05)) as fleet, MemorySink() as sink:
        feeds = feeds_for(fleet, "memory://", limit_per_host=2)
        summary = await run(feeds, sink, Telemetry())
        host = f"127.0.0.1:{fleet.ports[0]}"

    (finding,) = findings(summary, "pool")
    assert f"limit_per_host is the bottleneck for host {host} (peak 2 in use" in finding["message"]
    stats = summary.report["hosts"][host]
    assert stats["peak_in_use"] == 2
    assert stats["queue_wait_seconds"] > stats["wire_seconds"]
    # seen through aiohttp's public trace hooks: 2 connections made, the rest reused
    assert stats["new_connections"] == 2
    assert stats["reused_connections"] == 14
    assert summary.report["leaks"]["leaked"] is False


async def test_a_sufficient_limit_gives_no_bottleneck_finding() -> None:
    """With room for every request at once, nothing waits and nothing is flagged."""
    async with SupplierFleet(fleet_spec(8, latency=0.05)) as fleet, MemorySink() as sink:
        feeds = feeds_for(fleet, "memory://", limit_per_host=10)
        summary = await run(feeds, sink, Telemetry())
    assert findings(summary, "pool") == []
