"""Sink load speed into PostgreSQL: the PostgreSQL column of ``bench/sink_load.py``.

Same shapes and passes as ``bench/sink_load.py`` (imported from it, so the two tables
measure the same work): 1M inventory rows as 10k snapshots of 100 items, or as one
snapshot streamed in parts of 10k items; ``fresh``, ``reload same`` (nothing written) and
``reload changed`` (every document replaced whole, or skipped when it loses the tie-break
by content hash at an equal version). Each run uses a new database on the server of
``SUPPLYFEED_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
dropped afterwards.

Columns: "rows/s" is rows per elapsed second (the target is >= 100k); "client cpu" is the
CPU seconds of this process; "server cpu" those of the sink's writer backend plus the
server's WAL writer, checkpointer and background writer (read from the process table, so
only when the server runs on this machine; other sessions' work is not counted, but the
background processes serve them too).

``--baseline REV`` also loads the sink as it was at git revision ``REV`` and runs it
interleaved with the current one (old, new, new, old, ...) on the same rows, so the two
columns share the machine's load. Run:
``.venv/bin/python -m bench.sink_load_postgres [rows] [runs] [--baseline REV]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import psutil

from bench.sink_load import Batches, Shape, many_small, one_streamed
from supplyfeed._sink import postgres

ADMIN_URL = os.environ.get("SUPPLYFEED_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSES = {"fresh": 0, "reload same": 0, "reload changed": 1}  # pass -> quantity offset
_AUX = ("checkpointer", "background writer", "walwriter")
_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    client: float
    server: float | None


async def admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _cpu(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.Error, OSError):
        return None
    return float(times.user + times.system)


def _aux_pids() -> list[int]:
    """The server's background processes that work for every writer (local server only)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if cmdline.startswith("postgres:") and cmdline.endswith(_AUX):
            found.append(proc.pid)
    return found


async def _writer_pid(database: str) -> int | None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name = 'supplyfeed writer'",
            database,
        )
    finally:
        await conn.close()
    return None if pid is None else int(pid)


def _server_cpu(pids: Sequence[int | None]) -> float | None:
    values = [_cpu(p) for p in pids if p is not None]
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


async def _timed(sink: Any, database: str, batches: Batches) -> Sample:
    # The writer connection exists once the sink is open; the pid is read before the clock.
    pids = [await _writer_pid(database), *_aux_pids()]
    server = _server_cpu(pids)
    wall, client = time.perf_counter(), time.process_time()
    for units in batches:
        await sink.load(units)
    wall, client = time.perf_counter() - wall, time.process_time() - client
    after = _server_cpu(pids)
    spent = None if server is None or after is None else after - server
    return Sample(wall, client, spent)


async def postgres_run(sink_module: ModuleType, shape: Shape, rows: int) -> dict[str, Sample]:
    """One run of the three passes on a new database."""
    name = f"supplyfeed_bench_{secrets.token_hex(4)}"
    await admin(f"CREATE DATABASE {name}")
    try:
        url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
        samples = {}
        async with sink_module.PostgresSink(url) as sink:
            for label, offset in PASSES.items():
                batches = shape(rows, offset)  # built before the clock starts
                samples[label] = await _timed(sink, name, batches)
        return samples
    finally:
        await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def load_revision(rev: str) -> ModuleType:
    """``supplyfeed._sink.postgres`` as it was at git revision ``rev`` (its own helper
    modules ``postgres_*`` too), importable beside the current one."""
    suffix = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "src/supplyfeed/_sink/"],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    names = [Path(p).stem for p in listed if Path(p).name.startswith("postgres")]
    modules = {}
    for stem in sorted(names, key=lambda n: n == "postgres"):  # helpers first
        source = subprocess.run(
            ["git", "show", f"{rev}:src/supplyfeed/_sink/{stem}.py"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for other in names:  # the old modules import each other under their new names
            source = source.replace(f"from .{other} import", f"from ._rev_{suffix}_{other} import")
        qualified = f"supplyfeed._sink._rev_{suffix}_{stem}"
        spec = importlib.util.spec_from_loader(qualified, loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "supplyfeed._sink"
        sys.modules[qualified] = module
        exec(compile(source, f"{rev}:{stem}.py", "exec"), module.__dict__)
        modules[stem] = module
    return modules["postgres"]


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if len(present) == len(values) and present else None


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def report(label: str, rows: int, results: dict[str, dict[str, list[Sample]]]) -> None:
    """One line per pass: rows/s (median wall), client and server CPU seconds (medians)."""
    sinks = list(results)
    for name in PASSES:
        cells = []
        rates = []
        for sink in sinks:
            samples = results[sink][name]
            rate = rows / statistics.median(s.wall for s in samples)
            rates.append(rate)
            client = _median([s.client for s in samples])
            server = _median([s.server for s in samples])
            cells.append(f"{rate:>10,.0f} {_fmt(client, '>7.2f')} {_fmt(server, '>7.2f')}")
        ratio = f"{rates[-1] / rates[0]:>6.2f}x" if len(rates) > 1 else ""
        print(f"{label:<26} {name:<15} {'  '.join(cells)} {ratio}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.sink_load_postgres")
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("runs", nargs="?", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also run the sink of git REV")
    parser.add_argument("--shape", choices=["many", "streamed"], action="append")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rows, runs = args.rows, args.runs
    sinks: dict[str, ModuleType] = {}
    if args.baseline:
        sinks[args.baseline] = load_revision(args.baseline)
    sinks["current"] = postgres
    shapes: dict[str, tuple[str, Shape]] = {
        "many": (f"{rows // 100:,} docs x 100", many_small),
        "streamed": (f"1 doc x {rows:,} streamed", one_streamed),
    }
    chosen = args.shape or list(shapes)
    print(f"PostgreSQL sink load, {rows:,} inventory rows, median of {runs} runs")
    print("per sink: rows/s (wall), client cpu s, server cpu s\n")
    header = "  ".join(f"{s[:10]:>10} {'client':>7} {'server':>7}" for s in sinks)
    print(f"{'shape':<26} {'pass':<15} {header}")
    for key in chosen:
        label, shape = shapes[key]
        results: dict[str, dict[str, list[Sample]]] = {s: {p: [] for p in PASSES} for s in sinks}
        for run in range(runs):
            order = list(sinks) if run % 2 == 0 else list(reversed(sinks))
            for sink in order:
                for name, sample in asyncio.run(postgres_run(sinks[sink], shape, rows)).items():
                    results[sink][name].append(sample)
        report(label, rows, results)


if __name__ == "__main__":
    main()
