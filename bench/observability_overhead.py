"""Issue 5's budget: observability must cost under 5% of wall time on the throughput workload.

The same workload as ``python -m bench fetch --workload throughput`` (2,000 JSON endpoints,
50 records each, 20 ms median latency, simulator in its own process, fresh SQLite file),
run end to end by the Runner with telemetry off, on as the CLI runs it (loop-lag monitor,
pool trace hooks, leak check, metrics served, text logs), and on with JSON logs (one line
per fetch, written to /dev/null). Variants are interleaved round by round so drift hits
all of them alike; the medians and their ratios to "off" are printed, and beside them the
median of each round's own ratio to that round's "off" run (paired: a round's runs are
seconds apart, so they share the machine's load far better than runs minutes apart), and
the telemetry's CPU cost per endpoint (paired CPU difference / endpoints), the absolute
figure that must stay small as the rest of the run gets faster.

End-to-end runs on a shared 2-core machine swing by 10% or more from run to run, more than
the telemetry costs, so a second table times the synchronous hot path alone (observer,
metrics, ledger counts, and the JSON line) in a tight loop, best of five. Not in it:
aiohttp's own TraceConfig dispatch, which costs the same for any hooks (five awaited
signals, their parameter objects and two URL copies per request: about 55,000
instructions a request under callgrind, against 8,000 for the pool tracer's hooks).
Usage: ``python -m bench observability`` or ``python bench/observability_overhead.py [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import datetime as dt
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.fetch_bench import WORKLOADS, Fleet
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.outcome import AttemptRecord, FetchRequest, FetchSuccess
from supplyfeed._formats.body import Body
from supplyfeed._models import DocKind
from supplyfeed._run.pipeline import Runner, RunOptions
from supplyfeed._sink.base import Endpoint, EndpointRecord, Outcome
from supplyfeed._sink.factory import open_sink
from supplyfeed._telemetry import Telemetry, TelemetryOptions
from supplyfeed._telemetry import logging as sflog
from supplyfeed._telemetry.logging import LogFormat

VARIANTS = ("off", "on (text logs)", "on (json logs)")


def _telemetry(variant: str, devnull: Any) -> Telemetry | None:
    if variant == "off":
        return None
    fmt: LogFormat = "json" if "json" in variant else "text"
    return Telemetry(
        TelemetryOptions(
            log_format=fmt, log_stream=devnull, metrics_port=0, metrics_addr="127.0.0.1"
        )
    )


async def _one(fleet: dict[str, Any], variant: str, devnull: Any) -> tuple[float, float]:
    w = WORKLOADS["throughput"]
    with tempfile.TemporaryDirectory() as tmp:
        doc = dict(fleet["feeds"])
        doc["sink"] = f"sqlite:///{Path(tmp) / 'bench.db'}"
        doc["defaults"] = {"timeout_seconds": w.timeout, "read_timeout": w.timeout}
        feeds = parse_feeds(yaml.safe_dump(doc), "<bench>", {})
        sink = open_sink(feeds.sink)
        await sink.open()
        options = RunOptions(telemetry=_telemetry(variant, devnull))
        t0, c0 = time.monotonic(), time.process_time()
        try:
            summary = await Runner(feeds.suppliers, sink, feeds.defaults, options).run()
        finally:
            await sink.close()
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
    if summary.outcomes.get("loaded", 0) != w.endpoints:
        print(f"  warning: {variant}: {summary.outcomes}", file=sys.stderr)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench observability")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args(
        argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else []
    )
    w = WORKLOADS["throughput"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; workload {w}")
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpus: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with open(os.devnull, "w") as devnull:
        for r in range(args.repeat):
            order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                with Fleet(w, seed=200 + r) as fleet:
                    wall, cpu = asyncio.run(_one(fleet, variant, devnull))
                walls[variant].append(wall)
                cpus[variant].append(cpu)
                print(
                    f"  round {r + 1}: {variant}: {wall:.2f}s wall, {cpu:.2f}s cpu", file=sys.stderr
                )
        _table(walls, cpus, w.endpoints)
        hot = _hot_path(devnull)
    _per_request_table(hot, statistics.median(cpus["off"]) / w.endpoints * 1e6)


def _table(walls: dict[str, list[float]], cpus: dict[str, list[float]], endpoints: int) -> None:
    # Client CPU time (all threads of this process) is printed beside wall time: on a
    # shared machine wall time swings with other load, CPU time much less.
    base, cbase = statistics.median(walls["off"]), statistics.median(cpus["off"])
    head = ("telemetry", "wall s", "vs off", "cpu s", "vs off", "paired wall", "paired cpu",
            "cpu us/endpoint", "wall runs")  # fmt: skip
    print(" | ".join((f"{head[0]:<16}", *(f"{h:>6}" for h in head[1:8]), head[8])))
    for variant in VARIANTS:
        med, cmed = statistics.median(walls[variant]), statistics.median(cpus[variant])
        pairs = list(zip(walls[variant], walls["off"], cpus[variant], cpus["off"], strict=True))
        paired_wall = statistics.median(wv / wo for wv, wo, _, _ in pairs)
        paired_cpu = statistics.median(cv / co for _, _, cv, co in pairs)
        per_endpoint = statistics.median((cv - co) / endpoints * 1e6 for _, _, cv, co in pairs)
        cells = (
            f"{med:6.2f}", f"{med / base:6.3f}", f"{cmed:6.2f}", f"{cmed / cbase:6.3f}",
            f"{paired_wall:11.3f}", f"{paired_cpu:10.3f}", f"{per_endpoint:+15.1f}",
        )  # fmt: skip
        runs = " ".join(f"{x:.2f}" for x in walls[variant])
        print(" | ".join((f"{variant:<16}", *cells, runs)))


def _hot_path(devnull: Any, n: int = 4000, repeat: int = 5) -> dict[str, float]:
    """CPU us per endpoint of the observer's three calls and the ledger count (``written``),
    each endpoint in a context of its own as in its task; with a JSON line per fetch too.
    Building the request, outcome and ledger objects is timed alone and subtracted."""
    now = dt.datetime.now(dt.UTC)
    body = Body.from_bytes(b"[]")

    def objects(i: int) -> tuple[FetchRequest, str, AttemptRecord, FetchSuccess, EndpointRecord]:
        request = FetchRequest(
            url=f"http://127.0.0.1:{40000 + i % 10}/S{i % 10}/inventory/{i}.json",
            supplier_id=f"S{i % 10}", kind="inventory_snapshot",
        )  # fmt: skip
        rid = f"{i:016x}"
        attempt = AttemptRecord(1, "ok", 200, 0.02)
        outcome = FetchSuccess(
            request=request, status=200, headers={}, body=body, attempts=1, elapsed=0.02,
            request_id=rid, started_at=now, history=(attempt,),
        )  # fmt: skip
        endpoint = Endpoint(
            rid, request.supplier_id, DocKind.INVENTORY_SNAPSHOT, "json", request.url
        )
        record = EndpointRecord(endpoint, Outcome.LOADED, attempts=1, bytes=2, records=50)
        return request, rid, attempt, outcome, record

    def timed(telemetry: Telemetry | None) -> float:
        def one(i: int) -> None:
            request, rid, attempt, outcome, record = objects(i)
            if telemetry is not None:
                telemetry.observer.attempt_started(request, rid, 1)
                telemetry.observer.attempt_finished(request, rid, attempt)
                telemetry.observer.finished(outcome)
                telemetry.written([record])

        c0 = time.process_time()
        for i in range(n):
            contextvars.copy_context().run(one, i)
        return time.process_time() - c0

    best: dict[str, float] = {}
    for _ in range(repeat):
        runs: tuple[tuple[str, LogFormat | None], ...] = (
            ("objects", None), ("observer", "text"), ("json", "json"),
        )  # fmt: skip
        for name, fmt in runs:
            telemetry = None if fmt is None else Telemetry()
            logs = None
            if fmt is not None:
                level = logging.INFO if fmt == "json" else logging.WARNING
                logs = sflog.LogSetup(fmt, level, devnull)
            try:
                cpu = timed(telemetry)
            finally:
                if logs is not None:
                    logs.close()
            best[name] = min(best.get(name, cpu), cpu)
    return {
        "observer": (best["observer"] - best["objects"]) / n * 1e6,
        "json line": (best["json"] - best["observer"]) / n * 1e6,
    }


def _per_request_table(hot: dict[str, float], off_us: float) -> None:
    print(
        f"\nhot path, CPU us per endpoint (best of 5; an 'off' run: {off_us:.0f} us per endpoint)"
    )
    rows = (
        ("observer + metrics + ledger counts", hot["observer"]),
        ("JSON log line (one per fetch)", hot["json line"]),
    )
    for name, us in rows:
        print(f"{name:<36} | {us:5.1f} us | {us / off_us:6.2%} of off")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
