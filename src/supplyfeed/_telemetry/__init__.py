"""Seeing inside a run: five ways of debugging an asyncio fetcher, built in (numbered below).

| module         | protocol / concern                                            |
|----------------|---------------------------------------------------------------|
| loop_lag.py    | 1. event-loop blocking: lag monitor + culprit sampling        |
| pool_trace.py  | 2. connection pool: aiohttp TraceConfig hooks, per host       |
| leaks.py       | 3. unclosed responses, sockets and file descriptors           |
| logging.py     | 4. trace correlation: contextvars -> every log line, JSON     |
| memory.py      | 5. peak RSS; tracemalloc top sites with --profile-memory      |
| metrics.py     | Prometheus metrics, served and/or written to a textfile       |
| observer.py    | the engine's FetchObserver feeding all of the above           |
| report.py      | the run report and its findings                               |
| render.py      | the report as a terminal table (100 columns)                  |
| telemetry.py   | Telemetry: starts and stops all of it around one run          |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .report import build_report
    from .telemetry import Telemetry, TelemetryOptions

__all__ = ["Telemetry", "TelemetryOptions", "build_report"]

# Loaded on first use (PEP 562): a submodule such as ``render`` (the CLI's summary) can
# be imported without the telemetry runtime and the transport it brings (aiohttp).
_LAZY = {"build_report": ".report", "Telemetry": ".telemetry", "TelemetryOptions": ".telemetry"}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())
