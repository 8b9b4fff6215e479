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
Usage: ``python -m bench observability`` or ``python bench/observability_overhead.py [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import asyncio
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
from supplyfeed._run.pipeline import Runner, RunOptions
from supplyfeed._sink.factory import open_sink
from supplyfeed._telemetry import Telemetry, TelemetryOptions
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


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
