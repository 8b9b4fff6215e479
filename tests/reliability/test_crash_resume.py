"""Crash, resume, check: nothing lost, nothing duplicated, nothing unexpected.

Each test serves a fleet with a fault mix from this process, runs the real CLI in a child
process, kills it (SIGKILL at a named failpoint, SIGKILL at a random moment, or SIGTERM),
resumes it with ``supplyfeed resume``, and runs the checker against the ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
from pathlib import Path

import pytest

from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from .checker import CRASH_SAFE_MIX, check, cli, finish, write_feeds

pytestmark = pytest.mark.slow


def crash_fleet(seed: int) -> FleetSpec:
    return FleetSpec.generate(
        endpoints=80,
        hosts=4,
        records_per_endpoint=6,
        formats=("json", "csv"),
        fault_rate=0.3,
        fault_mix=CRASH_SAFE_MIX,
        latency=LatencyModel(median=0.06, sigma=0.5, max=0.3),
        seed=seed,
    )


async def run_started(db: Path) -> None:
    """Wait until the child has recorded its run (imports take a while on a busy box)."""
    async with asyncio.timeout(60):
        while True:
            if db.exists():  # noqa: ASYNC240 - a stat per 20 ms poll in a test
                with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
                    try:
                        if conn.execute("SELECT count(*) FROM sf_runs").fetchone()[0]:
                            return
                    except sqlite3.OperationalError:
                        pass  # schema not created yet
            await asyncio.sleep(0.02)


async def run_and_resume(tmp_path: Path, seed: int, kill: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    async with SupplierFleet(crash_fleet(seed), seed=seed) as fleet:
        # Few slots, so a run lasts a few seconds and a kill lands mid-run.
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url, max_concurrency=6)
        truth = fleet.expected(attempts=3, timeout=2.0)
        env = {"SUPPLYFEED_FAILPOINTS": kill} if "=" in kill else {}
        proc = await cli("run", str(feeds), "--quiet", env=env, cwd=tmp_path)
        if kill.startswith(("sleep:", "term:")):
            await run_started(tmp_path / "crash.db")
            await asyncio.sleep(float(kill.split(":")[1]))
            assert proc.returncode is None, "the run finished before the signal: make it longer"
            proc.send_signal(signal.SIGKILL if kill.startswith("sleep:") else signal.SIGTERM)
        code, output = await finish(proc)
        if "=" in kill or kill.startswith("sleep:"):
            assert code == -signal.SIGKILL, output
        else:
            assert code in (0, 1), output
        code, output = await finish(
            await cli("resume", "--feeds", str(feeds), "--quiet", cwd=tmp_path)
        )
        assert code in (0, 1), output
        verdict = await check(db_url, truth)
    print(f"checker[{kill}]: {verdict.summary()}")
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)


@pytest.mark.parametrize(
    "point", ["after_fetch=5", "mid_batch=2", "after_commit=2"], ids=lambda p: p.split("=")[0]
)
async def test_sigkill_at_a_named_point_then_resume(tmp_path: Path, point: str) -> None:
    """SIGKILL after a fetch, mid-transaction and right after COMMIT: resume completes."""
    await run_and_resume(tmp_path, seed=21, kill=point)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sigkill_at_a_random_moment_then_resume(tmp_path: Path, seed: int) -> None:
    """SIGKILL at a random time (seeded), then resume: the checker finds nothing wrong."""
    delay = random.Random(seed).uniform(0.0, 1.0)
    await run_and_resume(tmp_path, seed=seed, kill=f"sleep:{delay:.3f}")


async def test_sigterm_is_graceful_then_resume(tmp_path: Path) -> None:
    """SIGTERM stops new fetches, finishes the writes in flight; resume does the rest."""
    await run_and_resume(tmp_path, seed=9, kill="term:0.5")
