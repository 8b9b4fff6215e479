"""A bug (an unexpected exception) at a stage boundary, driven by ``name=raise:N``
failpoints in a real ``supplyfeed run`` child process.

A bug in one endpoint's fetch, in the hand-off of its outcome, or in its sink call ends
that endpoint as ``internal`` with the traceback in the ledger; a bug in the steps after a
commit ends the endpoints of that commit so. Either way the run finishes and records its
summary, the others load, ``resume`` fetches those endpoints again, and the checker finds
nothing lost, duplicated or unexpected.
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


@pytest.mark.parametrize(
    ("point", "batch_size", "internal"),
    [
        ("mid_batch=raise:3", 1, 1),  # alone in its call: that endpoint is internal
        # In a batch: rolled back, its units retried one by one, they load. (Not
        # mid_batch=raise:3: whether the third unit shares its call depends on timing.)
        ("mid_shared_batch=raise:1", 4, 0),
        ("after_commit=raise:2", 1, 1),  # committed, the steps after it failed
    ],
)
async def test_a_bug_in_the_sink_call_or_after_its_commit_fails_only_its_endpoints(
    tmp_path: Path, point: str, batch_size: int, internal: int
) -> None:
    """A bug in a sink call or in the steps after its commit: the run finishes (exit 1,
    its summary recorded), only the endpoints of that call are ``internal``, and resume
    finishes them. Rows committed before an after-commit bug keep their counts."""
    db_url = f"sqlite:///{tmp_path / 'bug.db'}"
    async with SupplierFleet(_FLEET, seed=5) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url, batch_size=batch_size)
        truth = fleet.expected(attempts=3, timeout=2.0)
        env = {"SUPPLYFEED_FAILPOINTS": point}
        code, output = await finish(await cli("run", str(feeds), "--json", env=env))
        assert code == (1 if internal else 0), output
        assert "Traceback" not in output, output
        if point.startswith("mid_shared_batch"):  # the batch did fail, and was split
            assert "failed to load (FailpointError" in output, output
        summary = orjson.loads(next(x for x in output.splitlines() if x.startswith("{")))
        status, counts, messages = await _ledger(db_url)
        assert status == "finished"
        n = len(_FLEET.endpoints)
        assert counts == {"loaded": n - internal, **({"failed": internal} if internal else {})}
        assert len(messages) == internal, messages
        assert all("FailpointError" in m and "Traceback (most recent" in m for m in messages)
        # Rows committed before an after-commit bug count as loaded: they are stored.
        every = await _loaded_records(db_url)
        assert summary["records_by_bucket"]["loaded"] == every, (summary, every)
        code, output = await finish(await cli("resume", "--feeds", str(feeds), "--quiet"))
        assert code == 0, output
        status, counts, messages = await _ledger(db_url)
        assert counts.get("failed", 0) == 0, counts
        assert not messages, messages
        verdict = await check(db_url, truth)
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)


async def _loaded_records(db_url: str) -> int:
    """The records the latest run's ledger says it loaded, from its endpoint rows."""
    sink = open_sink(db_url, lock=False)
    await sink.open()
    try:
        run = await sink.get_run()
        assert run is not None
        return sum(r.records_loaded for r in await sink.endpoints(run.run_id))
    finally:
        await sink.close()


async def test_a_decoder_bug_quarantines_the_payload_with_one_line_on_screen(
    tmp_path: Path,
) -> None:
    """A decoder that raises (a bug, not a malformed payload) quarantines that payload as
    ``decoder_bug``: the traceback is kept in the letter, the screen gets one line."""
    db_url = f"sqlite:///{tmp_path / 'bug.db'}"
    async with SupplierFleet(_FLEET, seed=5) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url, batch_size=1)
        env = {"SUPPLYFEED_FAILPOINTS": "decode=raise:3"}
        code, output = await finish(await cli("run", str(feeds), "--quiet", env=env))
    assert code == 1, output
    assert "Traceback" not in output, output
    assert "decoder_bug: decoder raised FailpointError: failpoint decode" in output, output
    sink = open_sink(db_url, lock=False)
    await sink.open()
    try:
        letters = await sink.dead_letters()
        run = await sink.get_run()
        assert run is not None
        records = await sink.endpoints(run.run_id)
    finally:
        await sink.close()
    assert [x.error_kind for x in letters] == ["decoder_bug"]
    assert "Traceback (most recent call last)" in letters[0].error_message
    outcomes = sorted(r.outcome.value for r in records)
    assert outcomes == ["loaded"] * (len(_FLEET.endpoints) - 1) + ["quarantined"]
