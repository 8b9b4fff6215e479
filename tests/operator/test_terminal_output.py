"""Where a run's output goes: logs follow stderr, and piped tables are printed whole.

Real runs of the CLI in a child process against a simulated fleet: stdout on a real
pseudo-terminal (so rich draws its live display) with stderr sent to a file, and
``report`` piped, as cron or ``| less`` would read it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet
from tests.cli_terminal import on_terminal
from tests.reliability.checker import CRASH_SAFE_MIX, check, finish, write_feeds

pytestmark = pytest.mark.slow

LONG_SUPPLIER = "SUPPLIER-WITH-A-NAME-FAR-LONGER-THAN-FOURTEEN-CHARACTERS"
_FLEET = FleetSpec.generate(
    endpoints=24,
    hosts=2,
    suppliers=[LONG_SUPPLIER, "S2"],
    records_per_endpoint=3,
    formats=("json", "csv"),
    fault_rate=0.4,
    fault_mix={k: v for k, v in CRASH_SAFE_MIX.items() if k in ("not_found", "down")},
    latency=LatencyModel(median=0.01, sigma=0.2, max=0.05),
    seed=5,
)


async def test_warnings_go_to_the_redirected_stderr_not_the_terminal(tmp_path: Path) -> None:
    """``run F 2>err.log`` on a terminal: every failed URL's warning is in err.log, none
    on the screen, and the screen still shows the live progress; records are all there."""
    db = f"sqlite:///{tmp_path / 'out.db'}"
    async with SupplierFleet(_FLEET, seed=5) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db)
        truth = fleet.expected(attempts=3, timeout=2.0)
        with (tmp_path / "err.log").open("wb") as log:
            code, screen = await on_terminal("run", str(feeds), stderr=log, limit=120)
        verdict = await check(db, truth)
    err = (tmp_path / "err.log").read_text()
    failed = truth.urls("failed")
    assert failed, "the fleet must have failing endpoints"
    assert code == 1, screen + err
    assert err.count("fetch failed") == len(failed), err
    for url in failed:
        assert url in err, url
    assert "fetch failed" not in screen, screen
    assert "in flight" in screen, screen
    assert "records loaded" in screen, screen
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)


async def test_piped_report_prints_whole_values_without_padding(tmp_path: Path) -> None:
    """``report | cat``: the long supplier id and every URL appear whole, lines are not
    wrapped at 80 columns, and no line ends in padding."""
    db = f"sqlite:///{tmp_path / 'out.db'}"
    async with SupplierFleet(_FLEET, seed=5) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db)
        code, _ = await finish(await _cli("run", str(feeds), "--quiet"))
        assert code == 1
        urls = fleet.urls
    code, out = await finish(await _cli("report", "--db", db))
    assert code == 0, out
    lines = out.splitlines()
    assert LONG_SUPPLIER in out, out
    slowest = [u for u in urls if u in out]
    assert slowest, out  # the slowest-endpoints table lists full URLs
    assert not [line for line in lines if line != line.rstrip()], out
    assert max(len(line) for line in lines) > 80, out


async def _cli(*args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k != "SUPPLYFEED_FAILPOINTS"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "supplyfeed", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
