"""A run SIGKILLed mid-download leaves its spool file in ``$TMPDIR``; the next run (here
``resume``) sweeps the files of dead runs at start, keeps those of live ones, and loads
every record once."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from .checker import check, cli, finish, write_feeds

pytestmark = pytest.mark.slow

_FLEET = FleetSpec.generate(
    endpoints=4,
    hosts=1,
    records_per_endpoint=10,
    formats=("json",),
    fault_rate=1.0,
    fault_mix={"drip": 1.0},  # 64 bytes every 50 ms: a download the kill lands in
    latency=LatencyModel(median=0.01, sigma=0.2, max=0.05),
    seed=4,
)


async def first_spool(tmpdir: Path, other_than: Path) -> Path:
    """The first spool file the child writes (polled: a file appears, no event to wait on)."""
    async with asyncio.timeout(60):
        while True:
            found = set(tmpdir.glob("supplyfeed-[0-9]*-*.spool")) - {other_than}  # noqa: ASYNC240
            if found:
                return found.pop()
            await asyncio.sleep(0.02)


async def test_spool_files_of_a_sigkilled_run_are_swept_by_the_next(tmp_path: Path) -> None:
    """SIGKILL mid-download leaves a spool file; the next run removes it, not a live one."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    live = tmpdir / f"supplyfeed-{os.getpid()}-keepme.spool"  # this test process is alive
    live.write_bytes(b"x")
    db_url = f"sqlite:///{tmp_path / 'spool.db'}"
    env = {"TMPDIR": str(tmpdir)}
    async with SupplierFleet(_FLEET, seed=4) as fleet:
        feeds = write_feeds(
            fleet, tmp_path / "feeds.yaml", db_url,
            spool_threshold_bytes=64, timeout_seconds=60.0, read_timeout=60.0,
        )  # fmt: skip
        truth = fleet.expected(attempts=3, timeout=60.0)
        proc = await cli("run", str(feeds), "--quiet", env=env)
        stale = await first_spool(tmpdir, other_than=live)
        proc.send_signal(signal.SIGKILL)
        code, output = await finish(proc)
        assert code == -signal.SIGKILL, output
        assert stale.exists()
        code, output = await finish(await cli("resume", "--feeds", str(feeds), "--quiet", env=env))
        assert code == 0, output
        verdict = await check(db_url, truth)
    assert sorted(tmpdir.iterdir()) == [live]
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
