"""A PostgreSQL sink that reconnects mid-run owns its new connections: no false leak."""

from __future__ import annotations

import asyncio

import asyncpg

from supplyfeed._sink.factory import open_sink
from supplyfeed._telemetry import Telemetry
from supplyfeed.sim import SupplierFleet

from ..reliability.checker import check
from ..telemetry.helpers import feeds_for, findings, fleet_spec, run
from .conftest import reset_database

_OURS = "datname = current_database() AND application_name LIKE 'supplyfeed%'"


async def _terminate_once_rows_land(url: str, done: asyncio.Event) -> int:
    """Wait for the first stored rows, then end every supplyfeed session (57P01)."""
    conn = await asyncpg.connect(url)
    try:
        while not done.is_set():
            if await conn.fetchval("SELECT count(*) FROM inventory_positions"):
                ended: int = await conn.fetchval(
                    f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {_OURS}"
                )
                return ended
            await asyncio.sleep(0.01)
        return 0
    finally:
        await conn.close()


async def test_a_reconnect_mid_run_reports_no_leak_and_loads_every_record_once(
    pg_database: str,
) -> None:
    """pg_terminate_backend mid-run: the sink reconnects (writer and lock), the leak check
    reports nothing, and the checker finds nothing lost, duplicated or unexpected."""
    await reset_database(pg_database)
    async with SupplierFleet(fleet_spec(12, latency=0.05)) as fleet:
        feeds = feeds_for(fleet, pg_database, max_concurrency=1)
        done = asyncio.Event()
        sink = open_sink(pg_database)
        await sink.open()
        try:
            killer = asyncio.ensure_future(_terminate_once_rows_land(pg_database, done))
            summary = await run(feeds, sink, Telemetry())
            done.set()
            ended = await killer
        finally:
            await sink.close()
        verdict = await check(pg_database, fleet.expected())
    assert ended >= 2  # the writer and the run lock were cut
    assert summary.report["leaks"]["leaked"] is False, summary.report["leaks"]
    assert findings(summary, "leak") == []
    assert verdict.ok, verdict.summary()
    assert verdict.rows > 0
