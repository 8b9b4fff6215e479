"""A real run for the HTML report: a simulated fleet with retries, failures and a dead
letter, run and reported through the CLI (``supplyfeed run``, then ``report --html``).

Also the README's screenshot: ``python -m tests.telemetry.report_fleet docs/img/report.png``
makes the run, the page and the PNG with the code the tests use.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supplyfeed._sink.base import DeadLetter, EndpointRecord
from supplyfeed._sink.factory import open_sink
from supplyfeed.sim import FleetSpec, GroundTruth, LatencyModel, SupplierFleet
from tests.reliability.checker import CRASH_SAFE_MIX, Verdict, check, cli, finish, write_feeds

from .chromium import screenshot

__all__ = ["LIMIT_PER_HOST", "REPORT_FLEET", "ReportRun", "make_report"]

LIMIT_PER_HOST = 4  # low, so the in-flight charts reach it
REPORT_FLEET = FleetSpec.generate(
    endpoints=48,
    hosts=3,
    suppliers=["ACME", "GLOBEX", "INITECH"],
    records_per_endpoint=4,
    formats=("json", "csv", "xml"),
    fault_rate=0.4,
    fault_mix=CRASH_SAFE_MIX,
    latency=LatencyModel(median=0.04, sigma=0.6, max=0.3),
    seed=11,
)


@dataclass(frozen=True, slots=True)
class ReportRun:
    db: str
    html: Path
    truth: GroundTruth
    verdict: Verdict
    run_code: int
    run_output: str
    report_code: int
    report_output: str
    records: list[EndpointRecord]
    dead_letters: list[DeadLetter]
    report: dict[str, Any]  # the run's stored report (telemetry's findings, hosts, limits)


async def make_report(folder: Path) -> ReportRun:
    """Run the fleet once through ``supplyfeed run`` and write its HTML report."""
    db = f"sqlite:///{folder / 'run.db'}"
    html = folder / "run.html"
    async with SupplierFleet(REPORT_FLEET) as fleet:
        feeds = write_feeds(fleet, folder / "feeds.yaml", db, limit_per_host=LIMIT_PER_HOST)
        truth = fleet.expected(attempts=3, timeout=2.0)
        run_code, run_output = await finish(await cli("run", str(feeds), "--quiet"))
    verdict = await check(db, truth)
    report_code, report_output = await finish(await cli("report", "--db", db, "--html", str(html)))
    sink = open_sink(db, lock=False)
    await sink.open()
    try:
        run = await sink.get_run()
        assert run is not None, run_output
        records = await sink.endpoints(run.run_id)
        letters = await sink.dead_letters(include_resolved=True)
    finally:
        await sink.close()
    return ReportRun(db, html, truth, verdict, run_code, run_output, report_code,
                     report_output, records, letters, run.summary["report"])  # fmt: skip


def write_screenshot(out: Path) -> None:
    browser = shutil.which("chromium")
    if browser is None:
        sys.exit("chromium not found: apt-get install -y --no-install-recommends chromium")
    with tempfile.TemporaryDirectory() as tmp:
        made = asyncio.run(make_report(Path(tmp)))
        assert made.report_code == 0, made.report_output
        screenshot(browser, made.html, out, Path(tmp))
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    write_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/report.png"))
