"""Sink load speed: upserted inventory rows/s into SQLite (a PostgreSQL column is reserved).

Two shapes of 1M inventory rows each (scaled by the ``rows`` argument):

- ``10k docs x 100``: many small snapshots, loaded in units of 10 documents, 10 units a call;
- ``1 doc x 1M streamed``: one snapshot decoded in parts of 10k items (the streaming path).

Three passes per shape, each on the database the previous pass left:

- ``fresh``: an empty database;
- ``reload same``: the identical documents again (content hash equal: nothing written);
- ``reload changed``: every quantity changed (every document replaced whole).

The documents are built before the clock starts, so this measures the sink (row building,
hashing, SQLite) and not a decoder. Prints medians of several runs; no pass/fail (the
target is >= 100k rows/s fresh). "wall" is rows per elapsed second; "cpu" rows per
CPU second of this process, which is what the sink itself costs when other jobs share
the cores. Run: ``.venv/bin/python bench/sink_load.py [rows] [runs]``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from supplyfeed._formats.body import Body
from supplyfeed._models import DocKind, Document, InventoryItem, InventorySnapshot
from supplyfeed._sink.base import Endpoint, EndpointRecord, LoadUnit, Outcome, Sink
from supplyfeed._sink.sqlite import SqliteSink

T0 = dt.datetime(2026, 11, 28, 7, 45, tzinfo=dt.UTC)
DOCS_PER_UNIT = 10
UNITS_PER_CALL = 10
PART_ITEMS = 10_000

Batches = list[list[LoadUnit]]
Shape = Callable[[int, int], Batches]  # (rows, quantity offset) -> load calls


def _snapshot(warehouse: str, skus: range, offset: int) -> InventorySnapshot:
    items = [
        InventoryItem(sku=f"SKU-{n:07d}", on_hand=(n + offset) % 500, available=n % 400)
        for n in skus
    ]
    return InventorySnapshot(supplier_id="SUP", warehouse_id=warehouse, as_of=T0, items=items)


_REQUESTS = itertools.count()
_PASS = [0]  # the run a pass's loads belong to


def _unit(key: str, docs: Sequence[Document]) -> LoadUnit:
    """One payload; every load of it is a fetch of its own (a request id of its own) in a
    run of its own, as in production: a reload is the same source polled again."""
    endpoint = Endpoint(key, "SUP", DocKind.INVENTORY_SNAPSHOT, "json", f"https://s.example/{key}")
    fetch = next(_REQUESTS)
    request_id = f"req-{key}-{fetch}"
    record = EndpointRecord(endpoint, Outcome.PENDING, attempts=1, request_id=request_id)

    def documents() -> Iterator[Document]:
        return iter(docs)

    return LoadUnit(f"bench-{_PASS[0]}", record, Body.from_bytes(b""), documents)


def many_small(rows: int, offset: int) -> Batches:
    docs = [_snapshot(f"W{w:05d}", range(100), offset) for w in range(rows // 100)]
    units = [
        _unit(f"u{i}", docs[i : i + DOCS_PER_UNIT]) for i in range(0, len(docs), DOCS_PER_UNIT)
    ]
    return [units[i : i + UNITS_PER_CALL] for i in range(0, len(units), UNITS_PER_CALL)]


def one_streamed(rows: int, offset: int) -> Batches:
    parts = [
        _snapshot("W00001", range(i, min(i + PART_ITEMS, rows)), offset)
        for i in range(0, rows, PART_ITEMS)
    ]
    return [[_unit("big", parts)]]


async def _timed_load(sink: Sink, batches: Batches) -> tuple[float, float]:
    """Wall and CPU seconds. The loop idles while the worker thread loads, so process CPU
    time is the sink's own: the fair number on a machine shared with other jobs."""
    wall, cpu = time.perf_counter(), time.process_time()
    for units in batches:
        await sink.load(units)
    return time.perf_counter() - wall, time.process_time() - cpu


async def run_shape(shape: Shape, rows: int, directory: Path) -> dict[str, tuple[float, float]]:
    """One run of the three passes; returns seconds per pass."""
    db = directory / f"bench-{time.monotonic_ns()}.db"
    passes = {"fresh": 0, "reload same": 0, "reload changed": 1}
    seconds = {}
    async with SqliteSink(f"sqlite:///{db}") as sink:
        for name, offset in passes.items():
            _PASS[0] += 1
            batches = shape(rows, offset)  # built before the clock starts
            seconds[name] = await _timed_load(sink, batches)
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    rows = int(args[0]) if args else 1_000_000
    runs = int(args[1]) if len(args) > 1 else 3
    shapes: dict[str, Shape] = {
        f"{rows // 100:,} docs x 100": many_small,
        f"1 doc x {rows:,} streamed": one_streamed,
    }
    print(f"sink load, {rows:,} inventory rows, median of {runs} runs (rows/s)\n")
    print(f"{'shape':<26} {'pass':<15} {'sqlite wall':>12} {'sqlite cpu':>12} {'postgresql':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, shape in shapes.items():
            samples: dict[str, list[tuple[float, float]]] = {}
            for _ in range(runs):
                for name, pair in asyncio.run(run_shape(shape, rows, Path(tmp))).items():
                    samples.setdefault(name, []).append(pair)
            for name, pairs in samples.items():
                wall = rows / statistics.median(p[0] for p in pairs)
                cpu = rows / statistics.median(p[1] for p in pairs)
                # PostgreSQL: fill in when supplyfeed._sink.postgres ships.
                print(f"{label:<26} {name:<15} {wall:>12,.0f} {cpu:>12,.0f} {'n/a':>12}")


if __name__ == "__main__":
    main()
