"""Protocol 5: --profile-memory puts top allocation sites in the report; peak RSS always."""

from __future__ import annotations

import asyncio

import pytest

from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed.sim import SupplierFleet

from .helpers import feeds_for, findings, fleet_spec, run

hoard: list[bytearray] = []


def hold_a_big_buffer() -> None:
    hoard.append(bytearray(24 * 1024 * 1024))


@pytest.mark.slow  # tracemalloc over a whole run
async def test_profile_memory_reports_top_sites_and_peak_rss() -> None:
    """A 24 MiB allocation during the run is the top site, named by file and line."""
    async with SupplierFleet(fleet_spec(12, latency=0.1)) as fleet, MemorySink() as sink:
        feeds = feeds_for(fleet, "memory://", limit_per_host=2)
        asyncio.get_running_loop().call_later(0.1, hold_a_big_buffer)
        try:
            summary = await run(feeds, sink, Telemetry(TelemetryOptions(profile_memory=True)))
        finally:
            hoard.clear()
    memory = summary.report["memory"]
    top = memory["top_sites"][0]
    assert "test_memory.py" in top["site"]
    assert top["bytes"] >= 24 * 1024 * 1024
    assert memory["peak_rss_bytes"] > 24 * 1024 * 1024
    assert any("top allocation site" in f["message"] for f in findings(summary, "memory"))


async def test_peak_rss_is_reported_without_profiling() -> None:
    """Without --profile-memory there is no tracemalloc, but peak RSS is still there."""
    async with SupplierFleet(fleet_spec(2)) as fleet, MemorySink() as sink:
        summary = await run(feeds_for(fleet, "memory://"), sink, Telemetry())
    memory = summary.report["memory"]
    assert memory["peak_rss_bytes"] > 0
    assert "top_sites" not in memory
