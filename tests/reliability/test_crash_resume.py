"""Crash, resume, check: nothing lost, nothing duplicated, nothing unexpected.

Each test serves a fleet with a fault mix from this process, runs the real CLI in a child
process, kills it (SIGKILL at a named failpoint, SIGKILL at a random moment, or SIGTERM),
resumes it with ``supplyfeed resume``, and runs the checker against the ground truth.
"""

from __future__ import annotations

import asyncio
import random
import signal
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
        latency=LatencyModel(median=0.02, sigma=0.5, max=0.2),
        seed=seed,
    )


async def run_and_resume(tmp_path: Path, seed: int, kill: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    async with SupplierFleet(crash_fleet(seed), seed=seed) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url)
        truth = fleet.expected(attempts=3, timeout=2.0)
        env = {"SUPPLYFEED_FAILPOINTS": kill} if "=" in kill else {}
        proc = await cli("run", str(feeds), "--quiet", env=env, cwd=tmp_path)
        if kill.startswith("sleep:"):
            await asyncio.sleep(float(kill.split(":")[1]))
            proc.send_signal(signal.SIGKILL)
        elif kill.startswith("term:"):
            await asyncio.sleep(float(kill.split(":")[1]))
            proc.send_signal(signal.SIGTERM)
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
    delay = random.Random(seed).uniform(0.3, 1.5)
    await run_and_resume(tmp_path, seed=seed, kill=f"sleep:{delay:.3f}")


async def test_sigterm_is_graceful_then_resume(tmp_path: Path) -> None:
    """SIGTERM stops new fetches, finishes the writes in flight; resume does the rest."""
    await run_and_resume(tmp_path, seed=9, kill="term:0.5")
