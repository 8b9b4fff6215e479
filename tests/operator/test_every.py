"""``supplyfeed run F --every 1s`` as a real process: it runs on each slot, never two runs
at once, and SIGTERM ends it cleanly, between runs or during one."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet
from tests.reliability.checker import check, cli, finish, write_feeds

pytestmark = pytest.mark.slow


def _fleet(latency: float) -> FleetSpec:
    return FleetSpec.generate(
        endpoints=12,
        hosts=2,
        records_per_endpoint=3,
        formats=("json", "csv"),
        latency=LatencyModel(median=latency, sigma=0.1, max=latency * 1.5),
        seed=3,
    )


def _runs(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            return conn.execute(
                "SELECT status, started_at FROM sf_runs ORDER BY started_at"
            ).fetchall()
        except sqlite3.OperationalError:  # schema not created yet
            return []


async def _until(db: Path, done: Callable[[list[tuple[str, str]]], bool]) -> None:
    """Poll the child's ledger (it is another process: there is no event to wait on)."""
    async with asyncio.timeout(90):
        while True:
            if done(_runs(db)):
                return
            await asyncio.sleep(0.05)


async def test_sigterm_between_runs_ends_the_poller_with_every_record_loaded_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "every.db"
    async with SupplierFleet(_fleet(0.005), seed=3) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}")
        truth = fleet.expected(attempts=3, timeout=2.0)
        proc = await cli("run", str(feeds), "--every", "1s", "--quiet", cwd=tmp_path)
        await _until(db, lambda runs: [s for s, _ in runs].count("finished") >= 2)
        await asyncio.sleep(0.1)  # let the second run's output out; the poller sleeps
        runs = _runs(db)
        assert runs[-1][0] == "finished", runs  # between runs (each lasts well under 1 s)
        proc.send_signal(signal.SIGTERM)
        code, output = await finish(proc)
        verdict = await check(f"sqlite:///{db}", truth)
    assert code == 0, output
    assert "every: stopping (no run in progress)" in output, output
    assert f"every: stopped after {len(_runs(db))} run(s)" in output, output
    assert "next run at" in output, output
    assert {s for s, _ in _runs(db)} == {"finished"}
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)


async def test_sigterm_during_a_run_stops_it_and_the_poller_after_it(tmp_path: Path) -> None:
    """Runs of ~1.5 s at a 1 s interval: each skips the slot it passed, and says so; a
    SIGTERM mid-run stops that run as a single run stops, then the poller exits."""
    db = tmp_path / "every.db"
    async with SupplierFleet(_fleet(0.4), seed=3) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}", max_concurrency=3)
        truth = fleet.expected(attempts=3, timeout=2.0)
        proc = await cli("run", str(feeds), "--every", "1s", "--quiet", cwd=tmp_path)
        await _until(db, lambda runs: len(runs) >= 2 and runs[-1][0] == "running")
        proc.send_signal(signal.SIGTERM)
        code, output = await finish(proc)
        runs = _runs(db)
        verdict = await check(f"sqlite:///{db}", truth)
    assert "skipped them (runs never overlap)" in output, output
    assert "stopping: finishing writes in flight" in output, output
    assert f"every: stopped after {len(runs)} run(s)" in output, output
    assert [s for s, _ in runs] == ["finished"] * (len(runs) - 1) + ["interrupted"]
    assert code != 0, output  # the last run was interrupted
    assert verdict.ok, verdict  # the first run loaded everything; the second only repeats
