"""Memory findings (protocol 5 of ``_telemetry``): peak RSS always; with ``--profile-memory``,
tracemalloc's top allocation sites.

Sites are taken at the high-water mark, not at the end: after a run most payloads are
freed, and the end-of-run snapshot would show nothing interesting. A cheap check of the
traced total runs every ``interval``; a snapshot (costly, so rare) is taken only when the
total has grown by a fifth over the last one. tracemalloc itself slows allocation-heavy
code down by 2-3x, which is why it is opt-in.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from .._procstat import rss_bytes

__all__ = ["MemoryMonitor"]

_TOP = 10
_IGNORE = (tracemalloc.__file__, "<frozen importlib._bootstrap*>", "<unknown>")


class MemoryMonitor:
    def __init__(
        self,
        *,
        profile: bool = False,
        interval: float = 0.5,
        on_pause: Callable[[float], None] | None = None,
    ) -> None:
        self.profile = profile
        self._on_pause = on_pause  # told how long a snapshot held the loop
        self._interval = interval
        self._rss_start = 0
        self._sites: list[dict[str, Any]] = []
        self._snapshot_total = 0
        self._peak_traced = 0
        self._started_tracing = False
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._rss_start = rss_bytes()
        if not self.profile:
            return
        if not tracemalloc.is_tracing():
            tracemalloc.start(1)
            self._started_tracing = True
        tracemalloc.reset_peak()
        self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._interval, self._check)

    def _check(self) -> None:
        current, _peak = tracemalloc.get_traced_memory()
        if current > self._snapshot_total * 1.2:
            self._take(current)
        self._schedule()

    def _take(self, total: int) -> None:
        t0 = time.monotonic()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, pattern) for pattern in _IGNORE]
        )
        self._snapshot_total = total
        self._sites = [
            {
                "site": f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}",
                "bytes": s.size,
                "count": s.count,
            }
            for s in snapshot.statistics("lineno")[:_TOP]
        ]
        if self._on_pause is not None:
            self._on_pause(time.monotonic() - t0)

    def stop(self) -> dict[str, Any]:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        out: dict[str, Any] = {
            "peak_rss_bytes": _peak_rss(),
            "rss_start_bytes": self._rss_start,
            "rss_end_bytes": rss_bytes(),
        }
        if self.profile and tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            if not self._sites or current > self._snapshot_total:
                self._take(current)
            out["traced_peak_bytes"] = peak
            out["top_sites_at_bytes"] = self._snapshot_total
            out["top_sites"] = self._sites
            if self._started_tracing:
                tracemalloc.stop()
                self._started_tracing = False
        return out


def _peak_rss() -> int:
    """The process's high-water RSS (ru_maxrss: KiB on Linux, bytes on macOS)."""
    if sys.platform == "win32":  # pragma: no cover
        import psutil

        return int(psutil.Process().memory_info().peak_wset)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _short(path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    if "/src/" in path:
        return path.split("/src/", 1)[1]
    return path
