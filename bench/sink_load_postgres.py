"""Sink load speed into PostgreSQL: the PostgreSQL column of ``bench/sink_load.py``.

Same shapes and passes as ``bench/sink_load.py`` (imported from it, so the two tables
measure the same work): 1M inventory rows as 10k snapshots of 100 items, or as one
snapshot streamed in parts of 10k items; ``fresh``, ``reload same`` (nothing written) and
``reload changed`` (every document replaced whole). Each run uses a new database on the
server of ``SUPPLYFEED_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
dropped afterwards. "wall" is rows per elapsed second (the target is >= 100k fresh);
"client cpu" is rows per CPU second of this process, the server's CPU not included.
Run: ``.venv/bin/python -m bench.sink_load_postgres [rows] [runs]``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
from collections.abc import Sequence

import asyncpg

from bench.sink_load import Shape, _timed_load, many_small, one_streamed
from supplyfeed._sink.postgres import PostgresSink

ADMIN_URL = os.environ.get("SUPPLYFEED_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def postgres_run(shape: Shape, rows: int) -> dict[str, tuple[float, float]]:
    """One run of the three passes on a new database; returns (wall, cpu) seconds a pass."""
    name = f"supplyfeed_bench_{secrets.token_hex(4)}"
    await _admin(f"CREATE DATABASE {name}")
    try:
        url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
        passes = {"fresh": 0, "reload same": 0, "reload changed": 1}
        seconds = {}
        async with PostgresSink(url) as sink:
            for label, offset in passes.items():
                batches = shape(rows, offset)  # built before the clock starts
                seconds[label] = await _timed_load(sink, batches)
        return seconds
    finally:
        await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    rows = int(args[0]) if args else 1_000_000
    runs = int(args[1]) if len(args) > 1 else 3
    shapes: dict[str, Shape] = {
        f"{rows // 100:,} docs x 100": many_small,
        f"1 doc x {rows:,} streamed": one_streamed,
    }
    print(f"PostgreSQL sink load, {rows:,} inventory rows, median of {runs} runs (rows/s)\n")
    print(f"{'shape':<26} {'pass':<15} {'pg wall':>12} {'pg client cpu':>14}")
    for label, shape in shapes.items():
        samples: dict[str, list[tuple[float, float]]] = {}
        for _ in range(runs):
            for name, pair in asyncio.run(postgres_run(shape, rows)).items():
                samples.setdefault(name, []).append(pair)
        for name, pairs in samples.items():
            wall = rows / statistics.median(p[0] for p in pairs)
            cpu = rows / statistics.median(p[1] for p in pairs)
            print(f"{label:<26} {name:<15} {wall:>12,.0f} {cpu:>14,.0f}")


if __name__ == "__main__":
    main()
