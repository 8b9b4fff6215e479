"""Protocol 1: a blocked event loop is measured, named and reported."""

from __future__ import annotations

import asyncio
import io
import json
import time

import pytest

from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed._telemetry.loop_lag import LoopLagMonitor
from supplyfeed.sim import SupplierFleet

from .helpers import feeds_for, findings, fleet_spec, run


def block_the_loop() -> None:
    time.sleep(0.3)  # the kind of call the guide warns about: synchronous work on the loop


@pytest.mark.slow  # blocks the loop for real
async def test_a_blocking_callback_is_named_in_the_warning_and_the_report() -> None:
    """time.sleep in a callback: a lag warning naming it, and max lag in the report."""
    logs = io.StringIO()
    telemetry = Telemetry(TelemetryOptions(log_format="json", log_stream=logs))
    async with SupplierFleet(fleet_spec(20, latency=0.05)) as fleet, MemorySink() as sink:
        feeds = feeds_for(fleet, "memory://", limit_per_host=2)
        asyncio.get_running_loop().call_later(0.2, block_the_loop)
        summary = await run(feeds, sink, telemetry)

    lag = summary.report["loop_lag"]
    assert lag["max_seconds"] >= 0.25
    assert lag["stalls"] >= 1
    assert "block_the_loop" in lag["worst"][0]["culprit"]
    (finding,) = findings(summary, "loop_lag")
    assert "block_the_loop" in finding["message"]
    warnings = [json.loads(line) for line in logs.getvalue().splitlines()]
    blocked = [w for w in warnings if w["logger"] == "supplyfeed.loop"]
    assert any("block_the_loop" in w["message"] and w["level"] == "warning" for w in blocked)
    assert all(w["run_id"] == summary.run_id for w in blocked)


async def test_a_blocking_coroutine_names_its_task() -> None:
    """Blocking inside a task names the task as well as the function."""
    monitor = LoopLagMonitor(0.1, interval=0.02)
    monitor.start()

    async def busy_worker() -> None:
        await asyncio.sleep(0.05)
        block_the_loop()

    try:
        await asyncio.create_task(busy_worker(), name="the-busy-one")
        await asyncio.sleep(0.05)
    finally:
        monitor.stop()
    worst = monitor.stats()["worst"][0]
    assert "block_the_loop" in worst["culprit"]
    assert "the-busy-one" in worst["culprit"]


async def test_an_idle_loop_reports_no_stall() -> None:
    """Awaiting is not blocking: no stall, lag far below the threshold."""
    monitor = LoopLagMonitor(0.1, interval=0.01)
    monitor.start()
    try:
        await asyncio.sleep(0.2)
    finally:
        monitor.stop()
    stats = monitor.stats()
    assert stats["stalls"] == 0
    assert stats["samples"] >= 5
    assert stats["max_seconds"] < 0.1
