"""Conditional requests: the second 15-minute poll of a fleet that did not change.

A fleet of inventory/PO/ASN endpoints (JSON and CSV, seeded latency) is ingested once
into a fresh SQLite database; then a second run polls it again, in three modes:

- ``off``: ``conditional_requests: false`` - every body is downloaded, decoded and handed
  to the sink (which finds every document's content hash unchanged and writes nothing,
  but only after decoding and hashing it);
- ``hash``: the server sends no ETag; a body whose SHA-256 equals the last loaded one is
  recorded ``unchanged`` without decoding;
- ``etag``: the server sends ETags; the client sends ``If-None-Match`` and gets 304s:
  no body is downloaded at all.

Prints wall time, bytes downloaded, records decoded and rows in the database per mode
(medians of ``runs``). Run: ``python -m bench conditional -- [endpoints]
[records_per_endpoint] [runs] [sqlite|postgresql]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from bench.sink_load_postgres import ADMIN_URL
from bench.sink_load_postgres import admin as pg_admin
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._run.pipeline import Runner
from supplyfeed._run.summary import RunSummary
from supplyfeed._sink.factory import open_sink
from supplyfeed.sim import TABLES, FleetSpec, LatencyModel, SupplierFleet

LATENCY = LatencyModel(median=0.02, sigma=0.4, max=0.2)
DEFAULTS: dict[str, Any] = {"max_concurrency": 64, "limit_per_host": 16, "batch_size": 50}


@asynccontextmanager
async def _database(kind: str) -> AsyncIterator[str]:
    """A fresh database of ``kind`` (sqlite or postgresql) for one mode's two runs."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"sf_bench_cond_{uuid.uuid4().hex[:8]}"
    await pg_admin(f"CREATE DATABASE {name}")
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _run(fleet: SupplierFleet, url: str, **overrides: Any) -> tuple[RunSummary, int]:
    doc = fleet.feeds_document(sink=url, defaults={**DEFAULTS, **overrides})
    feeds = parse_feeds(yaml.safe_dump(doc), "bench.yaml", {})
    sink = open_sink(feeds.sink)
    await sink.open()
    try:
        summary = await Runner(feeds.suppliers, sink, feeds.defaults).run()
        rows = sum([len(await sink.table_rows(t)) for t in TABLES])
    finally:
        await sink.close()
    return summary, rows


async def _mode(spec: FleetSpec, mode: str, sink: str) -> dict[str, float]:
    async with SupplierFleet(spec, etags=mode == "etag") as fleet, _database(sink) as url:
        first, _ = await _run(fleet, url)
        second, rows = await _run(fleet, url, conditional_requests=mode != "off")
    return {
        "first_wall": first.wall_seconds,
        "wall": second.wall_seconds,
        "bytes": second.bytes,
        "records": second.records,
        "unchanged": second.outcomes.get("unchanged", 0),
        "rows": rows,
    }


async def run(endpoints: int, records: int, runs: int, sink: str = "sqlite") -> None:
    spec = FleetSpec.generate(
        endpoints=endpoints, hosts=8, records_per_endpoint=records, latency=LATENCY, seed=3
    )
    print(f"{endpoints} endpoints x {records} records, 8 hosts, median latency 20 ms, {sink}")
    print(
        f"{'mode':6} {'1st run s':>9} {'2nd run s':>9} {'bytes':>11} {'records':>9} "
        f"{'unchanged':>9} {'rows in db':>10}"
    )
    base = 0.0
    for mode in ("off", "hash", "etag"):
        samples = [await _mode(spec, mode, sink) for _ in range(runs)]
        med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
        base = base or med["wall"]
        print(
            f"{mode:6} {med['first_wall']:9.2f} {med['wall']:9.2f} {int(med['bytes']):11,} "
            f"{int(med['records']):9,} {int(med['unchanged']):9,} {int(med['rows']):10,}"
            f"   ({base / med['wall']:.1f}x vs off)"
        )


def main(argv: list[str] | None = None) -> None:
    """``[ENDPOINTS [RECORDS [RUNS]]] [sqlite|postgresql]``, default 400 endpoints x 500
    records, 3 runs, SQLite (PostgreSQL: ``SUPPLYFEED_BENCH_PG``, see sink_load_postgres)."""
    words = sys.argv[1:] if argv is None else argv
    sink = next((w for w in words if not w.isdigit()), "sqlite")
    if sink not in ("sqlite", "postgresql"):
        raise SystemExit(f"unknown sink {sink!r}: sqlite or postgresql")
    numbers = [int(w) for w in words if w.isdigit()]
    endpoints, records, runs = (numbers + [400, 500, 3][len(numbers) :])[:3]
    asyncio.run(run(endpoints, records, runs, sink=sink))


if __name__ == "__main__":
    main()
