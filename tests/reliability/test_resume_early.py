"""``resume --feeds F`` finishes the work whatever moment the crash hit: also when the run
was killed before it recorded anything, and when the latest recorded run of F is an
older one that finished."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from .checker import check, cli, finish, write_feeds

pytestmark = pytest.mark.slow

_FLEET = FleetSpec.generate(
    endpoints=8,
    hosts=1,
    records_per_endpoint=4,
    formats=("json", "csv"),
    fault_rate=0.0,
    latency=LatencyModel(median=0.01, sigma=0.2, max=0.05),
    seed=8,
)


def runs(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM sf_runs ORDER BY rowid")]


async def test_resume_with_no_run_recorded_starts_one_and_loads_everything(
    tmp_path: Path,
) -> None:
    """No database yet (killed in the early window): resume starts a run, says so, loads."""
    db = tmp_path / "early.db"
    async with SupplierFleet(_FLEET, seed=8) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}")
        truth = fleet.expected(attempts=3, timeout=2.0)
        code, output = await finish(await cli("resume", "--feeds", str(feeds), "--quiet"))
        assert code == 0, output
        assert "starting one" in output, output
        verdict = await check(f"sqlite:///{db}", truth)
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
    assert runs(db) == ["finished"]


async def test_resume_after_a_finished_run_starts_a_new_one(tmp_path: Path) -> None:
    """The latest recorded run of F finished cleanly (a later one died unrecorded):
    resume runs F again instead of reporting the old run's success."""
    db = tmp_path / "early.db"
    async with SupplierFleet(_FLEET, seed=8) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}")
        truth = fleet.expected(attempts=3, timeout=2.0)
        code, output = await finish(await cli("run", str(feeds), "--quiet"))
        assert code == 0, output
        code, output = await finish(await cli("resume", "--feeds", str(feeds), "--quiet"))
        assert code == 0, output
        assert "starting one" in output, output
        verdict = await check(f"sqlite:///{db}", truth)
    assert verdict.ok, verdict
    assert runs(db) == ["finished", "finished"]


def ledger(db: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT r.run_id, r.status, count(e.endpoint_key) FROM sf_runs r "
            "JOIN sf_endpoints e USING (run_id) WHERE e.outcome = 'pending' GROUP BY r.run_id"
        ).fetchall()


async def _stopped_early_then_resumed(
    tmp_path: Path, failpoint: str, code: int, status: str, said: str = ""
) -> None:
    """``run`` with ``failpoint`` armed at ``run_modules`` (the run's own modules are
    imported, its runner not made yet) exits ``code`` having said ``said`` and left the
    run as ``status`` with every endpoint pending; ``resume RUN_ID`` then loads every
    record once."""
    db = tmp_path / "early.db"
    async with SupplierFleet(_FLEET, seed=8) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}")
        truth = fleet.expected(attempts=3, timeout=2.0)
        armed = {"SUPPLYFEED_FAILPOINTS": f"run_modules={failpoint}"}
        exit_code, output = await finish(await cli("run", str(feeds), "--quiet", env=armed))
        assert exit_code == code, output
        assert said in output, output
        [(run_id, left_as, pending)] = ledger(db)
        assert (left_as, pending) == (status, len(_FLEET.endpoints)), output
        exit_code, output = await finish(await cli("resume", run_id, "--db", f"sqlite:///{db}"))
        assert exit_code == 0, output
        verdict = await check(f"sqlite:///{db}", truth)
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
    assert runs(db) == ["finished"]


async def test_the_run_and_its_ledger_are_recorded_before_the_engine_is_imported(
    tmp_path: Path,
) -> None:
    """The run's own modules (aiohttp, the engine) fail to come up, right after their
    import: the run and every endpoint, pending, are recorded already (they do not wait
    for those modules), and ``resume RUN_ID`` loads everything."""
    await _stopped_early_then_resumed(tmp_path, "raise:1", code=3, status="running")


async def test_a_sigterm_before_the_runner_exists_interrupts_the_run_it_recorded(
    tmp_path: Path,
) -> None:
    """A SIGTERM while the run's own modules finish importing (the run is recorded, its
    runner not made yet) stops that run as a stop mid-run does: it says so, fetches
    nothing, is recorded as interrupted with every endpoint pending, and ``resume``
    loads everything once."""
    await _stopped_early_then_resumed(
        tmp_path, "sigterm:1", code=1, status="interrupted",
        said="stopping: finishing writes in flight",
    )  # fmt: skip
