"""What the progress model costs (issue 18): in-flight, retrying, slowest and ETA tracking.

Every run now feeds :class:`~supplyfeed._run.progress.ProgressModel` (the CLI's display
draws it; ``--quiet`` still keeps it, the display only is off): four calls per endpoint
under a lock. Two tables:

1. the throughput workload (2,000 JSON endpoints, 50 records each, 20 ms median latency,
   simulator in its own process, fresh SQLite file) run end to end by the Runner with
   ``NullProgress`` (what a run fed before) and with the model, interleaved round by
   round; medians, ratios and paired (same-round) ratios, wall and CPU;
2. the hot path alone: CPU us per endpoint of the model's calls and of one ``view()``
   (what rich's refresh thread takes 10 times a second) with 50 and 500 requests in
   flight, best of five.

Usage: ``python -m bench progress [-- --repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
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
from supplyfeed._run.pipeline import Runner, RunOptions
from supplyfeed._run.progress import NullProgress, ProgressListener, ProgressModel
from supplyfeed._sink.base import Outcome
from supplyfeed._sink.factory import open_run_sink

VARIANTS = ("NullProgress", "ProgressModel")


def _listener(variant: str) -> ProgressListener:
    return ProgressModel(timeout=5.0) if variant == "ProgressModel" else NullProgress()


async def _one(fleet: dict[str, Any], variant: str) -> tuple[float, float]:
    w = WORKLOADS["throughput"]
    with tempfile.TemporaryDirectory() as tmp:
        doc = dict(fleet["feeds"])
        doc["sink"] = f"sqlite:///{Path(tmp) / 'bench.db'}"
        doc["defaults"] = {"timeout_seconds": w.timeout, "read_timeout": w.timeout}
        feeds = parse_feeds(yaml.safe_dump(doc), "<bench>", {})
        sink = open_run_sink(feeds.sink)  # the worker process, as `supplyfeed run`
        await sink.open()
        options = RunOptions(progress=_listener(variant))
        t0, c0 = time.monotonic(), time.process_time()
        try:
            summary = await Runner(feeds.suppliers, sink, feeds.defaults, options).run()
        finally:
            await sink.close()
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
    if summary.outcomes.get("loaded", 0) != w.endpoints:
        print(f"  warning: {variant}: {summary.outcomes}", file=sys.stderr)
    return wall, cpu


def _run_table(walls: dict[str, list[float]], cpus: dict[str, list[float]]) -> None:
    base, cbase = statistics.median(walls[VARIANTS[0]]), statistics.median(cpus[VARIANTS[0]])
    print(f"{'progress':<14} | wall s | vs null | paired | cpu s | vs null | paired | wall runs")
    for v in VARIANTS:
        med, cmed = statistics.median(walls[v]), statistics.median(cpus[v])
        pw = statistics.median(a / b for a, b in zip(walls[v], walls[VARIANTS[0]], strict=True))
        pc = statistics.median(a / b for a, b in zip(cpus[v], cpus[VARIANTS[0]], strict=True))
        runs = " ".join(f"{x:.2f}" for x in walls[v])
        print(
            f"{v:<14} | {med:6.2f} | {med / base:7.3f} | {pw:6.3f} | {cmed:5.2f} | "
            f"{cmed / cbase:7.3f} | {pc:6.3f} | {runs}"
        )


def _hot_path(n: int = 20_000, repeat: int = 5) -> dict[str, float]:
    """CPU us per endpoint of the calls a run makes, and of one view() at two loads."""
    body = Body(data=b"[]")
    now = dt.datetime.now(dt.UTC)
    requests = [FetchRequest(url=f"http://127.0.0.1:9/S/{i}.json", kind="po_ack") for i in range(n)]
    record = AttemptRecord(1, "ok", 200, 0.02)

    def calls(listener: ProgressListener) -> float:
        listener.start({"po_ack": n})
        c0 = time.process_time()
        for i, req in enumerate(requests):
            rid = f"{i:016x}"
            listener.attempt_started(req, rid, 1)
            listener.attempt_finished(req, rid, record)
            listener.finished(FetchSuccess(req, 200, {}, body, 1, 0.02, rid, now, (record,)))
            listener.advance("po_ack", Outcome.LOADED, 50)
        return time.process_time() - c0

    def view(in_flight: int) -> float:
        model = ProgressModel()
        model.start({"po_ack": 10 * in_flight})
        for i in range(in_flight):
            model.attempt_started(requests[i], f"{i}", 1)
        c0 = time.process_time()
        for _ in range(1000):
            model.view()
        return (time.process_time() - c0) / 1000

    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, cpu in (
            ("null", calls(NullProgress())),
            ("model", calls(ProgressModel())),
            ("view50", view(50)),
            ("view500", view(500)),
        ):
            best[name] = min(best.get(name, cpu), cpu)
    return {
        "NullProgress: 4 calls per endpoint": best["null"] / n * 1e6,
        "ProgressModel: 4 calls per endpoint": best["model"] / n * 1e6,
        "ProgressModel.view(), 50 in flight": best["view50"] * 1e6,
        "ProgressModel.view(), 500 in flight": best["view500"] * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench progress")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(
        argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else []
    )
    w = WORKLOADS["throughput"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; workload {w}")
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpus: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(args.repeat):
        for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            with Fleet(w, seed=300 + r) as fleet:
                wall, cpu = asyncio.run(_one(fleet, variant))
            walls[variant].append(wall)
            cpus[variant].append(cpu)
            print(f"  round {r + 1}: {variant}: {wall:.2f}s wall, {cpu:.2f}s cpu", file=sys.stderr)
    _run_table(walls, cpus)
    print("\nhot path, CPU us (best of 5)")
    for name, us in _hot_path().items():
        print(f"  {name:<40} {us:8.2f}")


if __name__ == "__main__":
    main()
