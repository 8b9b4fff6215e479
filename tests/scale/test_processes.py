"""``--executor processes:2``: local worker processes, with SQLite rows relayed to the one
writer, and a worker SIGKILLed mid-run whose shard runs again in a fresh pool."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil
import pytest

from supplyfeed.sim import SupplierFleet

from ..reliability.checker import check, cli, finish, write_feeds
from .helpers import attempts_of, loaded_sqlite, rerun_after_loss, scale_fleet, summary_of, wait_for

pytestmark = pytest.mark.slow


def fetching_child(parent: int, ports: set[int]) -> int | None:
    """A child of ``parent`` with a connection to the fleet: a shard worker mid-fetch
    (the SQLite writer and the resource tracker never talk to suppliers)."""
    for child in psutil.Process(parent).children():
        try:
            if any(c.raddr and c.raddr.port in ports for c in child.net_connections("tcp")):
                return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


async def test_processes_with_sqlite_relay_rows_to_one_writer(tmp_path: Path) -> None:
    """Two worker processes fetch and decode; the coordinator's SQLite sink writes: every
    record once, and both workers ran shards."""
    db = tmp_path / "scale.db"
    async with SupplierFleet(scale_fleet(seed=41, endpoints=48), seed=41) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}", max_concurrency=4)
        truth = fleet.expected(attempts=3, timeout=2.0)
        run = ("run", str(feeds), "--quiet", "--json", "--executor", "processes:2")
        code, output = await finish(
            await cli(*run, cwd=tmp_path),
            limit=180,
        )
        verdict = await check(f"sqlite:///{db}", truth)
    assert code in (0, 1), output
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
    summary = summary_of(output)
    assert summary["executor"]["name"] == "processes:2"
    assert len({a["worker"] for tried in attempts_of(summary) for a in tried}) == 2
    # The coordinator fetched nothing itself: the SLA estimate counts the shards' endpoints.
    assert summary["executor"]["endpoints_finished"] == 48
    assert summary["report"]["sla"]["endpoints_this_run"] == 48


async def test_sigkill_of_a_worker_process_mid_run_loses_nothing(tmp_path: Path) -> None:
    """The pool breaks; the shards it was running run again in a new pool; the checker
    finds nothing lost, duplicated or unexpected, and the summary shows the lost attempt."""
    db = tmp_path / "scale.db"
    async with SupplierFleet(scale_fleet(seed=42), seed=42) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}", max_concurrency=2)
        truth = fleet.expected(attempts=3, timeout=2.0)
        proc = await cli(
            "run", str(feeds), "--quiet", "--json", "--executor", "processes:2", cwd=tmp_path
        )
        ports = set(fleet.stats.ports)
        victim: list[int] = []

        async def mid_fetch() -> bool:
            if loaded_sqlite(db) < 3:
                return False
            pid = await asyncio.to_thread(fetching_child, proc.pid, ports)
            victim[:] = [] if pid is None else [pid]
            return bool(victim)

        try:
            await wait_for("a worker mid-fetch after some endpoints loaded", mid_fetch)
            os.kill(victim[0], signal.SIGKILL)
            code, output = await finish(proc, limit=180)
        finally:
            if proc.returncode is None:
                proc.kill()
        verdict = await check(f"sqlite:///{db}", truth)
    print(f"checker[worker process SIGKILL]: {verdict.summary()}")
    assert code in (0, 1), output
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
    summary = summary_of(output)
    assert rerun_after_loss(summary), attempts_of(summary)


async def test_sigterm_stops_the_workers_gracefully_then_resume_finishes(tmp_path: Path) -> None:
    """SIGTERM: no new shard starts, running shards finish their writes in flight and
    stop; the run ends interrupted (exit 1); ``resume`` on processes:2 does the rest."""
    db = tmp_path / "scale.db"
    async with SupplierFleet(scale_fleet(seed=43), seed=43) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}", max_concurrency=2)
        truth = fleet.expected(attempts=3, timeout=2.0)
        run = ("run", str(feeds), "--quiet", "--json", "--executor", "processes:2")
        proc = await cli(*run, cwd=tmp_path)
        try:
            await wait_for("some endpoints loaded", lambda: _loaded(db, 3))
            proc.send_signal(signal.SIGTERM)
            code, output = await finish(proc, limit=120)
        finally:
            if proc.returncode is None:
                proc.kill()
        assert code == 1, output
        stopped = summary_of(output)
        assert stopped["interrupted"]
        assert stopped["outcomes"].get("pending", 0) > 0
        resume = ("resume", "--feeds", str(feeds), "--quiet", "--json", "--executor", "processes:2")
        code, output = await finish(await cli(*resume, cwd=tmp_path), limit=180)
        verdict = await check(f"sqlite:///{db}", truth)
    assert code in (0, 1), output
    assert summary_of(output)["outcomes"].get("pending", 0) == 0
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)


async def _loaded(db: Path, n: int) -> bool:
    return loaded_sqlite(db) >= n
