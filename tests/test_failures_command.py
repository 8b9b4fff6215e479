"""What failed, for the operator: ``failures``, the ``failures`` list of ``report`` and
``report --json``, and exit codes a cron job can act on (``--fail-on-error-rate``,
75 for a held lock)."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from supplyfeed._cli.main import main
from supplyfeed._run.summary import summarize
from supplyfeed._sink.base import EndpointRecord, Outcome
from supplyfeed._sink.sqlite import SqliteSink
from supplyfeed.sim import FleetSpec, GroundTruth, LatencyModel, SupplierFleet

from .cli_terminal import on_terminal
from .reliability.checker import cli, finish, write_feeds
from .sink.helpers import endpoint, run_record, snapshot, unit

pytestmark = pytest.mark.slow  # whole runs through the CLI

_FIELDS = {"url", "supplier_id", "kind", "error_kind", "status", "message", "attempts",
           "request_id", "outcome", "permanent"}  # fmt: skip

# 20 endpoints, 4 with a fault that never heals: 2 fail (404, or 503 every time) and
# 2 are quarantined (malformed): 20% of the endpoints, far above the default 2%.
_FLEET = FleetSpec.generate(
    endpoints=20,
    hosts=2,
    records_per_endpoint=3,
    formats=("json", "csv"),
    fault_rate=0.2,
    fault_mix={"not_found": 1.0, "down": 1.0, "malformed": 1.0},
    latency=LatencyModel(median=0.005, sigma=0.2, max=0.02),
    seed=21,
)


async def _run(tmp_path: Path, *extra: str, **defaults: object) -> tuple[int, str, str]:
    """One CLI run of the fleet; returns its exit code, output and the database URL."""
    code, output, db, _truth = await _run_checked(tmp_path, *extra, **defaults)
    return code, output, db


async def _run_checked(
    tmp_path: Path, *extra: str, **defaults: object
) -> tuple[int, str, str, GroundTruth]:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    async with SupplierFleet(_FLEET, seed=21) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db, **defaults)
        code, output = await finish(await cli("run", str(feeds), "--quiet", *extra))
        truth = fleet.expected(attempts=3, timeout=2.0)
    return code, output, db, truth


async def _json(*args: str) -> object:
    code, output = await finish(await cli(*args))
    assert code == 0, output
    return json.loads(output)


async def test_failures_lists_every_failed_and_quarantined_endpoint_once(
    tmp_path: Path,
) -> None:
    """failures --json names exactly the endpoints the fleet broke: none lost, none
    twice, none unexpected, each with its reason, status, attempts and request id;
    report --json carries the same list."""
    code, output, db, truth = await _run_checked(tmp_path)
    assert code == 1, output
    broken = Counter(truth.failed + truth.quarantined)
    assert len(broken) == 4
    assert truth.failed  # both kinds of failure are listed
    assert truth.quarantined
    failures = await _json("failures", "--db", db, "--json")
    assert isinstance(failures, list)
    got = Counter(f["url"] for f in failures)
    assert (dict(broken - got), {u: n for u, n in got.items() if n > 1}, dict(got - broken)) == (
        {},
        {},
        {},
    )
    for f in failures:
        assert set(f) == _FIELDS
        assert f["request_id"], f
        assert f["attempts"] >= 1, f
        assert f["message"], f
    by_outcome = Counter(f["outcome"] for f in failures)
    assert by_outcome == Counter(failed=len(truth.failed), quarantined=len(truth.quarantined))
    assert {f["status"] for f in failures if f["error_kind"] == "http_status"} <= {404, 503}
    report = await _json("report", "--db", db, "--json")
    assert isinstance(report, dict)
    assert report["failures"] == failures
    assert "failures" not in report.get("report", {})  # one copy, the ledger's


@pytest.mark.parametrize("command", ["report", "failures"])
async def test_each_failed_request_id_is_shown_whole_at_120_columns(
    tmp_path: Path, command: str
) -> None:
    """On a 120-column terminal the report's failures table and `failures` keep every
    request id whole on its failure's line (it can be pasted into `supplyfeed trace`),
    with the reason uncut."""
    _code, _output, db = await _run(tmp_path)
    failures = await _json("failures", "--db", db, "--json")
    assert isinstance(failures, list)
    code, screen = await on_terminal(command, "--db", db, columns=120)
    assert code == 0, screen
    table = _table_lines(screen, "failures (")
    assert len(table) == len(failures), screen  # one line a failure, nothing wrapped
    for f in failures:
        [line] = [ln for ln in table if f["request_id"] in ln]
        assert f["error_kind"] in line, line


def _table_lines(screen: str, title: str) -> list[str]:
    """The rows of the table titled ``title``: after its header and rule, to a blank line."""
    lines = [ln.rstrip() for ln in screen.splitlines()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith(title))
    rows: list[str] = []
    for ln in lines[start + 1 :]:
        if not ln.strip() and rows:
            break
        if ln.strip() and "───" not in ln and not ln.lstrip().startswith("reason"):
            rows.append(ln)
    return rows


async def test_within_the_tolerated_error_rate_the_run_exits_0_with_a_warning(
    tmp_path: Path,
) -> None:
    """--fail-on-error-rate 0.25 tolerates 4 of 20: exit 0, a warning naming the count."""
    code, output, _db = await _run(tmp_path, "--fail-on-error-rate", "0.25")
    assert code == 0, output
    assert "warning: 4 of 20 endpoint(s) failed or quarantined" in output, output


async def test_the_feeds_files_error_rate_threshold_is_the_default(tmp_path: Path) -> None:
    """error_rate_threshold: 0.3 in the feeds file: exit 0; --fail-on-error-rate 0
    overrides it back to 'any failure fails'."""
    code, output, _db = await _run(tmp_path, error_rate_threshold=0.3)
    assert code == 0, output
    code, output, _db = await _run(tmp_path, "--fail-on-error-rate", "0", error_rate_threshold=0.3)
    assert code == 1, output
    assert "above 0.00%" in output, output


async def test_above_the_default_threshold_the_run_exits_1(tmp_path: Path) -> None:
    """20% failed against the default 2%: exit 1, saying so and where to look."""
    code, output, _db = await _run(tmp_path)
    assert code == 1, output
    assert "above 2.00%" in output, output
    assert "supplyfeed failures" in output, output


async def test_a_held_lock_exits_75_and_fetches_nothing(tmp_path: Path) -> None:
    """Another run holds the database: EX_TEMPFAIL (75), one line naming the holder."""
    db = f"sqlite:///{tmp_path / 'locked.db'}"
    async with SupplierFleet(_FLEET, seed=21) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db)
        async with SqliteSink(db):
            code, output = await finish(await cli("run", str(feeds), "--quiet"))
        assert fleet.stats.total_requests == 0
    assert code == 75, output
    assert f"pid {os.getpid()}" in output, output
    assert len(output.strip().splitlines()) == 1, output


@pytest.mark.parametrize("rate", ["1.5", "-0.1", "often"])
async def test_a_bad_fail_on_error_rate_is_bad_usage(tmp_path: Path, rate: str) -> None:
    """Outside 0..1 or not a number: exit 2 with argparse's one-line message."""
    code, output = await finish(await cli("run", "feeds.yaml", "--fail-on-error-rate", rate))
    assert code == 2, output
    assert "--fail-on-error-rate" in output, output


async def _ledger_only_run(url: str, *, with_summary: bool) -> list[str]:
    """A run whose ledger has two failures; its summary is absent (killed before it was
    written) or has no telemetry report (an older run). Returns the failed request ids."""
    failed = [
        EndpointRecord(endpoint(f"bad-{i}"), Outcome.FAILED, attempts=2, http_status=503,
                       error_kind="http_503", error_message="HTTP 503", request_id=f"{i:016x}")
        for i in (7, 9)
    ]  # fmt: skip
    ok = unit("good", [snapshot()])
    async with SqliteSink(url) as sink:
        await sink.start_run(run_record(), [r.endpoint for r in failed] + [ok.record.endpoint])
        await sink.load([ok])
        await sink.record(failed, "run-1")
        if with_summary:
            records = await sink.endpoints("run-1")
            summary = summarize("run-1", records, wall_seconds=1.0, error_rate_threshold=0.02)
            await sink.finish_run("run-1", "finished", summary.to_dict())
    return [r.request_id or "" for r in failed]


@pytest.mark.parametrize("with_summary", [False, True])
def test_report_lists_failures_from_the_ledger_without_a_telemetry_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], with_summary: bool
) -> None:
    """A run killed before its summary, or one stored without a telemetry report: the
    report still lists every failure, read from the ledger, in text and JSON."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ids = asyncio.run(_ledger_only_run(url, with_summary=with_summary))
    assert main(["report", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "failures (2)" in out, out
    for request_id in ids:
        assert request_id in out, out
    assert main(["report", "--db", url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(f["request_id"] for f in report["failures"]) == sorted(ids)
