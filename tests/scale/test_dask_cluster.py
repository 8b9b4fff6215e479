"""A feeds file on a real Dask LocalCluster (2 worker processes), against the simulator.

Each test runs the real CLI as the coordinator (``--executor dask://…``) with a fresh
PostgreSQL database, and checks the database with the recovery suite's checker: after a
worker or the coordinator is SIGKILLed, nothing is lost, duplicated or unexpected.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from supplyfeed.sim import SupplierFleet

from ..reliability.checker import check, cli, finish, write_feeds
from .helpers import (
    SHARD_KEY,
    attempts_of,
    loaded_pg,
    rerun_after_loss,
    sampled,
    scale_fleet,
    summary_of,
    wait_for,
)

pytestmark = pytest.mark.slow


def executor_of(client: Any) -> str:
    return "dask://" + str(client.scheduler.address).removeprefix("tcp://")


async def busy_worker(client: Any, db_url: str) -> str:
    """A worker running a shard, once the run has committed some endpoints."""
    found: list[str] = []

    async def running() -> bool:
        processing = await client.processing()
        found[:] = [w for w, keys in processing.items() if any(SHARD_KEY in k for k in keys)]
        return bool(found) and await loaded_pg(db_url) >= 3

    await wait_for("a shard running after some endpoints loaded", running)
    return found[0]


async def test_sigkill_of_a_worker_mid_run_loses_nothing(
    tmp_path: Path, scale_db: str, client: Any
) -> None:
    """Dask runs the killed worker's shard again elsewhere; the checker finds nothing
    lost, duplicated or unexpected, and the summary shows the lost attempt and the rerun."""
    async with SupplierFleet(scale_fleet(seed=31), seed=31) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", scale_db, max_concurrency=2)
        truth = fleet.expected(attempts=3, timeout=2.0)
        proc = await cli(
            "run", str(feeds), "--quiet", "--json", "--executor", executor_of(client),
            cwd=tmp_path,
        )  # fmt: skip
        try:
            victim = await busy_worker(client, scale_db)
            pids = await client.run(os.getpid)
            os.kill(pids[victim], signal.SIGKILL)
            code, output = await finish(proc, limit=180)
        finally:
            if proc.returncode is None:
                proc.kill()
        verdict = await check(scale_db, truth)
    print(f"checker[dask worker SIGKILL]: {verdict.summary()}")
    assert code in (0, 1), output
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
    summary = summary_of(output)
    assert rerun_after_loss(summary), attempts_of(summary)
    assert summary["executor"]["reruns"] >= 1


async def test_limit_per_host_holds_across_the_cluster(
    tmp_path: Path, scale_db: str, client: Any
) -> None:
    """Two suppliers per host, two workers, limit_per_host 2: no host ever sees more than
    2 requests at once (the simulator's in-flight counter), though both workers ran
    shards and the fleet as a whole had more than 2 in flight."""
    spec = scale_fleet(seed=32, endpoints=72, hosts=3, suppliers=6)
    async with SupplierFleet(spec, seed=32) as fleet:
        feeds = write_feeds(
            fleet, tmp_path / "feeds.yaml", scale_db, max_concurrency=16, limit_per_host=2
        )
        truth = fleet.expected(attempts=3, timeout=2.0)
        async with sampled(fleet.stats.in_flight) as fleet_peak:
            proc = await cli(
                "run", str(feeds), "--quiet", "--json", "--executor", executor_of(client),
                cwd=tmp_path,
            )  # fmt: skip
            code, output = await finish(proc, limit=180)
        peaks = {port: s.peak_in_flight for port, s in fleet.stats.ports.items()}
        verdict = await check(scale_db, truth)
    assert code in (0, 1), output
    assert max(peaks.values()) == 2, peaks  # the limit was reached, and held
    assert fleet_peak[0] > 2
    summary = summary_of(output)
    workers = {a["worker"] for tried in attempts_of(summary) for a in tried}
    assert len(workers) == 2, workers
    assert all(len(s["hosts"]) == 1 for s in summary["executor"]["shards"])
    assert verdict.ok, verdict


async def test_resume_after_the_coordinator_is_sigkilled_finishes_the_run(
    tmp_path: Path, scale_db: str, client: Any
) -> None:
    """SIGKILL the coordinator mid-run (its shards are released and stop); ``resume``
    continues the same run on the cluster and the checker finds nothing wrong."""
    async with SupplierFleet(scale_fleet(seed=33), seed=33) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", scale_db, max_concurrency=2)
        truth = fleet.expected(attempts=3, timeout=2.0)
        executor = executor_of(client)
        proc = await cli("run", str(feeds), "--quiet", "--executor", executor, cwd=tmp_path)
        try:
            await wait_for("some endpoints loaded", lambda: _at_least(scale_db, 3))
            assert proc.returncode is None, "the run ended before the kill: make it longer"
            proc.send_signal(signal.SIGKILL)
            code, _ = await finish(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
        assert code == -signal.SIGKILL
        assert await _not_loaded(scale_db) > 0, "nothing was left for resume"
        resume = ("resume", "--feeds", str(feeds), "--quiet", "--json", "--executor", executor)
        code, output = await finish(await cli(*resume, cwd=tmp_path), limit=180)
        verdict = await check(scale_db, truth)
    assert code in (0, 1), output
    summary = summary_of(output)
    assert summary["endpoints"] == len(spec_urls(feeds))
    assert summary["outcomes"].get("pending", 0) == 0
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)


async def test_an_unreachable_scheduler_exits_2_in_one_line(tmp_path: Path, scale_db: str) -> None:
    """Nothing listens at the dask:// address: exit 2 naming it, and no run is started."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"sink: {scale_db}\nsuppliers:\n  - id: A\n    feeds:\n"
        "      - {kind: po_ack, format: json, urls: [http://127.0.0.1:9/a]}\n"
    )
    t0 = time.monotonic()
    code, output = await finish(
        await cli("run", str(feeds), "--executor", "dask://127.0.0.1:9", cwd=tmp_path)
    )
    assert code == 2, output
    assert "cannot reach the Dask scheduler at dask://127.0.0.1:9" in output
    assert "Traceback" not in output
    print(f"unreachable scheduler: exit 2 after {time.monotonic() - t0:.1f} s")


async def _at_least(db_url: str, n: int) -> bool:
    return await loaded_pg(db_url) >= n


async def _not_loaded(db_url: str) -> int:
    conn = await asyncpg.connect(db_url, timeout=5)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM sf_endpoints WHERE outcome <> 'loaded'")
        )
    finally:
        await conn.close()


def spec_urls(feeds: Path) -> list[str]:
    doc = yaml.safe_load(feeds.read_text())
    return [u for s in doc["suppliers"] for f in s["feeds"] for u in f["urls"]]
