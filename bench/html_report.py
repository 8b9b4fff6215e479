"""``supplyfeed report --html`` beside the text and JSON reports, whole processes timed.

For each fleet size a real demo run (the simulator, 10% faults, 20 ms median latency)
fills a fresh SQLite file; then ``report`` (the terminal tables, piped), ``report --json``
and ``report --html FILE`` run as the user would start them, interleaved round by round,
and their medians and ratios to ``--json`` are printed with the time to build the page
in-process from the loaded ledger, the page's size and the time headless Chromium takes
(a whole browser process) to load and paint it, when installed.

Usage: ``python -m bench html -- [ENDPOINTS ...] [--repeat N]`` (default 500 2000, 5).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from supplyfeed._cli.report_html import load_run_data
from supplyfeed._telemetry.html_report import render_html_report

_VARIANTS = ("report", "report --json", "report --html")
_CHROMIUM = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1100,1500")  # fmt: skip


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "supplyfeed", *args]


def _timed(cmd: Sequence[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _demo(endpoints: int, db: str) -> None:
    subprocess.run(
        _cli("demo", "--endpoints", str(endpoints), "--db", db, "--port-base", "0", "--quiet",
             "--latency-ms", "20", "--json"),
        check=False,  # exit 1: some endpoints failed, as the demo means them to
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _variant(name: str, db: str, page: Path) -> list[str]:
    extra = {"report": [], "report --json": ["--json"], "report --html": ["--html", str(page)]}
    return _cli("report", "--db", db, *extra[name])


def _chromium(page: Path, folder: Path) -> float | None:
    browser = shutil.which("chromium")
    if browser is None:
        return None
    shot = folder / "shot.png"
    return _timed([browser, *_CHROMIUM, f"--user-data-dir={folder / 'profile'}",
                   f"--screenshot={shot}", page.as_uri()])  # fmt: skip


def _render(db: str, repeat: int) -> float:
    """The median time to build the page from the loaded ledger (no process start)."""
    data = asyncio.run(load_run_data(db, None))
    assert data is not None
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        render_html_report(data)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _row(endpoints: int, repeat: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db, page = f"sqlite:///{folder / 'demo.db'}", folder / "run.html"
        _demo(endpoints, db)
        times: dict[str, list[float]] = {v: [] for v in _VARIANTS}
        for _ in range(repeat):
            for v in _VARIANTS:
                times[v].append(_timed(_variant(v, db, page)))
        browser = [t for t in (_chromium(page, folder) for _ in range(repeat)) if t is not None]
        size = page.stat().st_size
        render = _render(db, repeat)
    med = {v: statistics.median(t) for v, t in times.items()}
    base = med["report --json"]
    cells = [f"{med[v]:.3f} s ({med[v] / base:.2f}x)" for v in _VARIANTS]
    paint = f"{statistics.median(browser):.2f} s" if browser else "no chromium"
    return [f"{endpoints:,}", *cells, f"{render * 1000:.0f} ms", f"{size / 1024:,.0f} KiB", paint]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench html --")
    p.add_argument("endpoints", type=int, nargs="*", default=[500, 2000])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    header = ["endpoints", *_VARIANTS, "page rendered in-process", "page", "chromium paint"]
    rows = [_row(n, args.repeat) for n in args.endpoints]
    print(f"process wall time, median of {args.repeat} (ratio to report --json)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
