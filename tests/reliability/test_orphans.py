"""A SIGKILLed ``supplyfeed run`` leaves no process behind: the SQLite worker and the
multiprocessing resource tracker go with it, whatever the moment of the kill (before,
during and after the worker's own start-up)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil
import pytest

from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from .checker import cli, finish, write_feeds

pytestmark = pytest.mark.slow

_FLEET = FleetSpec.generate(
    endpoints=60,
    hosts=2,
    records_per_endpoint=6,
    formats=("json", "csv"),
    fault_rate=0.0,
    latency=LatencyModel(median=0.1, sigma=0.3, max=0.3),
    seed=3,
)


def kill_with_descendants(pid: int) -> list[psutil.Process]:
    """Freeze ``pid`` (so it starts no new child), note its descendants, SIGKILL it."""
    os.kill(pid, signal.SIGSTOP)
    children = psutil.Process(pid).children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    return children


@pytest.mark.parametrize("moment", [0.3, 0.6, 0.8, 1.0, 1.4, 2.0])
async def test_a_sigkilled_run_leaves_no_process_behind(tmp_path: Path, moment: float) -> None:
    """SIGKILL at ``moment`` s after start: every child of the run exits within 3 s."""
    async with SupplierFleet(_FLEET, seed=3) as fleet:
        db_url = f"sqlite:///{tmp_path / 'orphans.db'}"
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url, max_concurrency=2)
        proc = await cli("run", str(feeds), "--quiet")
        await asyncio.sleep(moment)
        assert proc.returncode is None, "the run finished before the kill: make it longer"
        children = kill_with_descendants(proc.pid)
        _, alive = await asyncio.to_thread(psutil.wait_procs, children, timeout=3)
        survivors = [(p.pid, p.cmdline()) for p in alive]
        for p in alive:  # an orphan holds the run's stdout: reap it before reading that
            p.kill()
        code, output = await finish(proc)
    assert code == -signal.SIGKILL, output
    assert not survivors, survivors
