"""Seeing inside a run: the guide's five debugging protocols, built in.

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

from .report import build_report
from .telemetry import Telemetry, TelemetryOptions

__all__ = ["Telemetry", "TelemetryOptions", "build_report"]
