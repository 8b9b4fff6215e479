"""A bug (an unexpected exception) at a stage boundary, driven by ``name=raise:N``
failpoints in a real ``supplyfeed run`` child process.

Scoped to one endpoint (its fetch, the hand-off of its outcome): that endpoint ends as
``internal`` with the traceback in the ledger, the run finishes and records its summary,
the others load, and ``resume`` fetches it again. Not scoped to one endpoint (a batch's
after-commit steps): the run exits 3, "could not finish", and ``resume`` finishes it.
Either way the checker finds nothing lost, duplicated or unexpected.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from supplyfeed._sink.base import Outcome
from supplyfeed._sink.factory import open_sink
from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from .checker import check, cli, finish, write_feeds

pytestmark = pytest.mark.slow

_FLEET = FleetSpec.generate(
    endpoints=12,
    hosts=2,
    records_per_endpoint=4,
    formats=("json", "csv"),
    fault_rate=0.0,
    latency=LatencyModel(median=0.01, sigma=0.2, max=0.05),
    seed=5,
)


async def _ledger(db_url: str) -> tuple[str, dict[str, int], list[str]]:
    """The latest run's status, its outcome counts and its ``internal`` error messages."""
    sink = open_sink(db_url, lock=False)
    await sink.open()
    try:
        run = await sink.get_run()
        assert run is not None
        records = await sink.endpoints(run.run_id)
    finally:
        await sink.close()
    counts: dict[str, int] = {}
    for r in records:
        counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
    internal = [r.error_message or "" for r in records if r.error_kind == "internal"]
    assert all(r.outcome is Outcome.FAILED for r in records if r.error_kind == "internal")
    return run.status, counts, internal


@pytest.mark.parametrize("point", ["fetch=raise:3", "after_fetch=raise:3"])
async def test_a_bug_for_one_endpoint_fails_it_as_internal_and_resume_loads_it(
    tmp_path: Path, point: str
) -> None:
    """A bug in one endpoint's fetch or hand-off: that endpoint is ``internal`` (traceback
    in the ledger, not on the screen), the others load, resume loads it."""
    db_url = f"sqlite:///{tmp_path / 'bug.db'}"
    async with SupplierFleet(_FLEET, seed=5) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url)
        truth = fleet.expected(attempts=3, timeout=2.0)
        env = {"SUPPLYFEED_FAILPOINTS": point}
        code, output = await finish(await cli("run", str(feeds), "--json", env=env))
        assert code == 1, output
        assert "Traceback" not in output, output
        summary = orjson.loads(next(x for x in output.splitlines() if x.startswith("{")))
        assert summary["failures_by_reason"] == {"internal": 1}, summary
        status, counts, internal = await _ledger(db_url)
        assert status == "finished"
        assert counts == {"loaded": len(_FLEET.endpoints) - 1, "failed": 1}, counts
        assert len(internal) == 1, internal
        assert "FailpointError" in internal[0], internal
        assert "Traceback (most recent call last)" in internal[0], internal
        code, output = await finish(await cli("resume", "--feeds", str(feeds), "--quiet"))
        assert code == 0, output
        verdict = await check(db_url, truth)
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)


async def test_a_bug_after_a_commit_exits_3_and_resume_finishes(tmp_path: Path) -> None:
    """A bug in the after-commit steps stops the run (exit 3, not 1); resume finishes it."""
    db_url = f"sqlite:///{tmp_path / 'bug.db'}"
    async with SupplierFleet(_FLEET, seed=5) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url, batch_size=2)
        truth = fleet.expected(attempts=3, timeout=2.0)
        env = {"SUPPLYFEED_FAILPOINTS": "after_commit=raise:1"}
        code, output = await finish(await cli("run", str(feeds), "--quiet", env=env))
        assert code == 3, output
        assert "could not finish" in output, output
        status, _, _ = await _ledger(db_url)
        assert status == "running"
        code, output = await finish(await cli("resume", "--feeds", str(feeds), "--quiet"))
        assert code == 0, output
        verdict = await check(db_url, truth)
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
