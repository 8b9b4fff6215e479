"""Adaptive per-host concurrency against a host that degrades under load.

The simulated host (``supplyfeed.sim.degrading``) serves ``capacity`` requests at full
speed; each request beyond that adds ``base_latency`` to every answer (queueing), and
beyond ``overload`` concurrent requests it answers 503 at once. One run fetches every
document with a fixed ``limit_per_host``, another with ``adaptive_concurrency: true``
(AIMD within [1, limit_per_host]). The circuit breaker is off so both runs fetch
everything and the comparison is about pacing alone.

Prints, per mode (medians of ``runs``): wall time, 503s the host sent, attempts per
document, the host's peak concurrency and endpoints loaded. Run:
``.venv/bin/python bench/adaptive.py [documents] [limit_per_host] [runs]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

import yaml

from supplyfeed._feedsfile import parse_feeds
from supplyfeed._run.pipeline import Runner
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim.degrading import DegradingHost

CAPACITY, OVERLOAD, BASE_LATENCY = 8, 16, 0.02


async def _once(documents: int, limit: int, adaptive: bool) -> dict[str, float]:
    async with DegradingHost(
        capacity=CAPACITY, overload=OVERLOAD, base_latency=BASE_LATENCY
    ) as host:
        feed = {"kind": "inventory_snapshot", "format": "json", "urls": host.urls(documents)}
        defaults: dict[str, Any] = {
            "limit_per_host": limit,
            "max_concurrency": max(limit, 64),
            "retry_attempts": 20,
            "backoff_initial": 0.05,
            "backoff_max": 0.5,
            "breaker_threshold": 0,
            "adaptive_concurrency": adaptive,
        }
        doc = {"defaults": defaults, "suppliers": [{"id": "A", "feeds": [feed]}]}
        feeds = parse_feeds(yaml.safe_dump(doc), "bench.yaml", {})
        t0 = time.perf_counter()
        summary = await Runner(feeds.suppliers, MemorySink(), feeds.defaults).run()
        wall = time.perf_counter() - t0
        attempts = host.statuses[200] + host.statuses[503]
    return {
        "wall": wall,
        "503s": float(host.statuses[503]),
        "attempts/doc": attempts / documents,
        "peak": float(host.peak_in_flight),
        "loaded": float(summary.outcomes.get("loaded", 0)),
    }


async def main(documents: int, limit: int, runs: int) -> None:
    print(
        f"{documents} documents, limit_per_host {limit}; host: full speed up to {CAPACITY} "
        f"concurrent, +{BASE_LATENCY * 1000:.0f} ms per extra request, 503 above {OVERLOAD}"
    )
    print(f"{'mode':<10}{'wall s':>8}{'503s':>8}{'att/doc':>9}{'peak':>6}{'loaded':>8}")
    for adaptive in (False, True):
        results = [await _once(documents, limit, adaptive) for _ in range(runs)]
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        name = "adaptive" if adaptive else "fixed"
        print(
            f"{name:<10}{med['wall']:>8.2f}{med['503s']:>8.0f}{med['attempts/doc']:>9.2f}"
            f"{med['peak']:>6.0f}{med['loaded']:>8.0f}"
        )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [1000, 64, 3][len(args) :])))
