"""Issue 2's benchmark: one workload through three implementations, side by side.

- (a) bare aiohttp: one GET per URL under the same connection limits, body read, nothing
  parsed or written. The floor.
- (b) the guide's chunked-gather ``AsyncBatchIngestor``, exactly as written.
- (c) supplyfeed end to end: fetch, decode, load into a fresh SQLite file, ledger included.

The simulated fleet runs in its own process (``python -m supplyfeed.sim serve``), so client
and server sit on different cores; it is restarted for every measurement, so each
implementation meets the same faults. Implementations are interleaved and the median of
``--repeat`` rounds is printed. Usage: ``python -m bench fetch [--repeat 3] [--workload faults]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.guide_baseline import AsyncBatchIngestor as GuideIngestor
from bench.guide_baseline import FeedConfig as GuideConfig
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._run.pipeline import Runner, RunOptions
from supplyfeed._sink.factory import open_run_sink


@dataclass(frozen=True)
class Workload:
    name: str
    endpoints: int
    records: int
    fault_rate: float
    latency_ms: float
    timeout: float


WORKLOADS = {
    "faults": Workload("faults", 500, 20, 0.2, 100.0, 5.0),
    "throughput": Workload("throughput", 2000, 50, 0.0, 20.0, 5.0),
}
LINE_TABLES = ("inventory_positions", "po_ack_lines", "ship_notice_lines")
ATTEMPTS = 3  # retry_attempts, the guide's default, for (b) and (c) alike


@dataclass
class Result:
    wall: float
    ok: int
    records: int | None


class Fleet:
    """The simulator in a child process, for one measurement."""

    def __init__(self, w: Workload, seed: int) -> None:
        self.w, self.seed = w, seed

    def __enter__(self) -> dict[str, Any]:
        self.dir = tempfile.TemporaryDirectory()
        out = Path(self.dir.name) / "fleet.json"
        args = [
            sys.executable, "-m", "supplyfeed.sim", "serve",
            "--endpoints", str(self.w.endpoints), "--hosts", "10",
            "--records", str(self.w.records), "--fault-rate", str(self.w.fault_rate),
            "--latency-ms", str(self.w.latency_ms), "--formats", "json",
            "--seed", str(self.seed), "--timeout", str(self.w.timeout), "--out", str(out),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args)
        deadline = time.monotonic() + 60
        while not out.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        data: dict[str, Any] = json.loads(out.read_text())
        return data

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()


async def bare_aiohttp(fleet: dict[str, Any], w: Workload) -> Result:
    urls = [e["url"] for e in fleet["endpoints"]]
    connector = aiohttp.TCPConnector(limit=50, limit_per_host=10)
    timeout = aiohttp.ClientTimeout(total=w.timeout)
    ok = 0

    async def one(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal ok
        try:
            async with session.get(url) as resp:
                await resp.read()
                ok += resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            pass

    t0 = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(session, u) for u in urls))
    return Result(time.monotonic() - t0, ok, None)


def _lines(payload: Any) -> int:
    docs = payload if isinstance(payload, list) else [payload]
    return sum(len(d.get("items") or d.get("lines") or []) for d in docs if isinstance(d, dict))


async def guide(fleet: dict[str, Any], w: Workload) -> Result:
    urls = [e["url"] for e in fleet["endpoints"]]
    t0 = time.monotonic()
    async with GuideIngestor(GuideConfig(timeout_seconds=w.timeout)) as ingestor:
        payloads = await ingestor.fetch_feed_batch(urls)
    return Result(time.monotonic() - t0, len(payloads), sum(_lines(p) for p in payloads))


async def supplyfeed_sqlite(fleet: dict[str, Any], w: Workload) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        doc = dict(fleet["feeds"])
        doc["sink"] = f"sqlite:///{db}"
        doc["defaults"] = {"timeout_seconds": w.timeout, "read_timeout": w.timeout}
        feeds = parse_feeds(yaml.safe_dump(doc), "<bench>", {})
        sink = open_run_sink(feeds.sink)
        await sink.open()
        t0 = time.monotonic()
        try:
            summary = await Runner(feeds.suppliers, sink, feeds.defaults, RunOptions()).run()
        finally:
            await sink.close()
        wall = time.monotonic() - t0
        with sqlite3.connect(db) as conn:
            records = sum(
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in LINE_TABLES
            )
        conn.close()
    return Result(wall, summary.outcomes.get("loaded", 0), records)


IMPLS: dict[str, Callable[[dict[str, Any], Workload], Coroutine[Any, Any, Result]]] = {
    "(a) bare aiohttp": bare_aiohttp,
    "(b) guide chunked gather": guide,
    "(c) supplyfeed -> SQLite": supplyfeed_sqlite,
}


def floor_note(w: Workload, hangs: list[int], guide_median: float) -> str | None:
    """The wall time no retrying client can beat: a hanging endpoint times out on every
    attempt, so (c) cannot finish before ``attempts x timeout`` after that endpoint's
    first request, whatever its concurrency."""
    if not any(hangs):
        return None
    floor = ATTEMPTS * w.timeout
    return (
        f"{w.name}: {min(hangs)}-{max(hangs)} hanging endpoints per round; each costs any "
        f"client that retries a timeout ({ATTEMPTS} attempts x {w.timeout:g} s) at least "
        f"{floor:g} s, {floor / guide_median:.2f} of (b)'s median, before queueing and backoff"
    )


def run_workload(w: Workload, repeat: int) -> tuple[list[list[str]], list[str]]:
    results: dict[str, list[Result]] = {name: [] for name in IMPLS}
    recoverable = 0
    hangs: list[int] = []
    for r in range(repeat):
        for name, impl in IMPLS.items():
            with Fleet(w, seed=100 + r) as fleet:
                # the line rows of every endpoint a correct client can load
                recoverable = sum(fleet["totals"]["rows"][t] for t in LINE_TABLES)
                hangs.append(sum(e["fault"] == "hang" for e in fleet["endpoints"]))
                results[name].append(asyncio.run(impl(fleet, w)))
            print(
                f"  {w.name} round {r + 1}: {name}: {results[name][-1].wall:.2f}s", file=sys.stderr
            )
    medians = {n: statistics.median(x.wall for x in rs) for n, rs in results.items()}
    rows = []
    for name, rs in results.items():
        rec = [x.records for x in rs if x.records is not None]
        rows.append([
            w.name, name, f"{medians[name]:.2f}",
            " ".join(f"{x.wall:.2f}" for x in rs),
            f"{statistics.median(x.ok for x in rs):.0f}/{w.endpoints}",
            f"{statistics.median(rec):,.0f}" if rec else "-",
            f"{recoverable:,}",
            f"{medians[name] / medians['(b) guide chunked gather']:.2f}",
            f"{medians[name] / medians['(a) bare aiohttp']:.2f}",
        ])  # fmt: skip
    c, b = results["(c) supplyfeed -> SQLite"], results["(b) guide chunked gather"]
    per_round = " ".join(f"{x.wall / y.wall:.2f}" for x, y in zip(c, b, strict=True))
    notes = [f"{w.name}: (c)/(b) round by round (same fleet and faults): {per_round}"]
    floor = floor_note(w, hangs, medians["(b) guide chunked gather"])
    return rows, notes if floor is None else [*notes, floor]


def print_table(rows: list[list[str]]) -> None:
    head = ["workload", "implementation", "median s", "runs s", "endpoints ok",
            "records loaded", "recoverable", "vs (b)", "vs (a)"]  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    for row in [head, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(c).ljust(wd) for c, wd in zip(row, widths, strict=False)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench fetch")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    args = p.parse_args(argv)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, aiohttp {aiohttp.__version__}")
    results = [run_workload(WORKLOADS[n], args.repeat) for n in names]
    print_table([row for rows, _ in results for row in rows])
    for _, notes in results:
        print("\n".join(notes))


if __name__ == "__main__":
    main()
