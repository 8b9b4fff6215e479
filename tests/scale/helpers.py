"""Fleets, waits and readers shared by the scale-out tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from supplyfeed.sim import FleetSpec, LatencyModel

from ..reliability.checker import CRASH_SAFE_MIX

SHARD_KEY = "supplyfeed-"  # Dask task keys of shards


def scale_fleet(
    seed: int, *, endpoints: int = 60, hosts: int = 4, suppliers: int | None = None
) -> FleetSpec:
    """Slow enough (a few seconds with 2 slots a worker) that a kill lands mid-run."""
    return FleetSpec.generate(
        endpoints=endpoints,
        hosts=hosts,
        suppliers=suppliers,
        records_per_endpoint=6,
        formats=("json", "csv", "x12"),
        fault_rate=0.2,
        fault_mix=CRASH_SAFE_MIX,
        latency=LatencyModel(median=0.15, sigma=0.3, max=0.4),
        seed=seed,
    )


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], limit: float = 90.0) -> None:
    """Poll ``check`` until it holds; TimeoutError (naming ``what``) after ``limit``."""
    try:
        async with asyncio.timeout(limit):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"waited {limit} s for {what}") from None


async def loaded_pg(db_url: str) -> int:
    """Endpoints the run has committed as loaded so far (0 before the schema exists)."""
    conn = await asyncpg.connect(db_url, timeout=5)
    try:
        value = await conn.fetchval("SELECT count(*) FROM sf_endpoints WHERE outcome = 'loaded'")
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()
    return int(value)


def loaded_sqlite(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM sf_endpoints WHERE outcome = 'loaded'")
            return int(row.fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def summary_of(output: str) -> dict[str, Any]:
    """The ``--json`` summary line of a run's output."""
    for line in reversed(output.splitlines()):
        if line.startswith('{"run_id"'):
            summary: dict[str, Any] = json.loads(line)
            return summary
    raise AssertionError(f"no JSON summary in the output:\n{output}")


def attempts_of(summary: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [shard["attempts"] for shard in summary["executor"]["shards"]]


def rerun_after_loss(summary: dict[str, Any]) -> bool:
    """Some shard lost its worker and was then run to the end by another attempt."""
    return any(
        any(a["outcome"] == "worker lost" for a in tried) and tried[-1]["outcome"] == "done"
        for tried in attempts_of(summary)
    )


@contextlib.asynccontextmanager
async def sampled(read: Callable[[], int], every: float = 0.005) -> AsyncIterator[list[int]]:
    """The highest value ``read`` returned while the block ran (sampled), in ``[0]``."""
    peak = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], read())
            await asyncio.sleep(every)

    async with asyncio.TaskGroup() as group:
        task = group.create_task(sample())
        try:
            yield peak
        finally:
            task.cancel()
