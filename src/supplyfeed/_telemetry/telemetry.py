"""One run's telemetry: the pieces of this package started and stopped together.

The runner calls :meth:`Telemetry.start` before the first request and
:meth:`Telemetry.stop` after the last write, and stores :meth:`Telemetry.report` with the
run. Everything is on by default and cheap (see ``bench/observability_overhead.py``);
only ``profile_memory`` (tracemalloc) and ``debug`` (asyncio debug mode) cost much.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from .._config import FeedConfig
from .._fetch.transport import AiohttpTransport, Transport
from .._run.summary import RunSummary
from .._sink.base import EndpointRecord, Outcome
from . import logging as sflog
from .leaks import LeakCheck
from .logging import LogFormat, LogSetup, request_fields
from .loop_lag import LoopLagMonitor
from .memory import MemoryMonitor
from .metrics import METRICS_ADDRESS, Metrics, last_success_in
from .observer import TelemetryObserver
from .pool_trace import PoolTracer
from .report import build_report

__all__ = ["Telemetry", "TelemetryOptions"]

log = logging.getLogger("supplyfeed.run")


@dataclass(frozen=True, slots=True)
class TelemetryOptions:
    """``log_format=None`` leaves logging alone (library use: the application decides)."""

    log_format: LogFormat | None = None
    log_level: int | None = None  # default: WARNING for text, INFO (a line a fetch) for json
    log_stream: TextIO | None = None  # default: stderr
    metrics_port: int | None = None  # 0: any free port (see Telemetry.metrics_port)
    metrics_addr: str = METRICS_ADDRESS  # loopback: metrics name suppliers and hosts
    metrics_file: Path | None = None
    profile_memory: bool = False
    debug: bool = False
    lag_threshold: float | None = None  # default: FeedConfig.sla.loop_lag_threshold
    lag_interval: float = 0.05
    leak_grace: float = 1.0
    created_series: bool = True  # Prometheus ``*_created`` samples (metrics.created_series)


class Telemetry:
    def __init__(self, options: TelemetryOptions | None = None) -> None:
        self.options = options or TelemetryOptions()
        self.metrics = Metrics(created_series=self.options.created_series)
        self.observer = TelemetryObserver(self.metrics)
        self.metrics.track_in_flight(lambda: self.observer.in_use)
        self.pool = PoolTracer()
        self.memory = MemoryMonitor(profile=self.options.profile_memory, on_pause=self._excuse)
        self.leaks = LeakCheck(grace=self.options.leak_grace)
        self.lag: LoopLagMonitor | None = None
        self.metrics_port: int | None = None
        self._transport: AiohttpTransport | None = None
        self._logs: LogSetup | None = None
        self._token: Any = None
        self._debug_was: bool | None = None
        self._results: dict[str, Any] = {}
        self._started = False  # start() ran and close() has not

    def _excuse(self, seconds: float) -> None:
        if self.lag is not None:
            self.lag.excuse(seconds)

    def transport(self, config: FeedConfig) -> Transport:
        """The run's HTTP transport, traced; closed by :meth:`stop` before the leak check."""
        if self._transport is None:
            self._transport = AiohttpTransport(
                max_connections=config.max_concurrency,
                connect_timeout=config.timeouts.connect,
                read_timeout=config.timeouts.read,
                trace_configs=[self.pool.trace_config()],
            )
        return self._transport

    async def start(self, run_id: str, config: FeedConfig, *, sink_url: str = "") -> None:
        """``sink_url``: the open sink's database files are not counted as leaked fds."""
        opts = self.options
        self.leaks.expect(_database_path(sink_url))
        self.leaks.expect_peers(*await _database_peers(sink_url))
        if opts.log_format is not None:
            default = logging.INFO if opts.log_format == "json" else logging.WARNING
            level = opts.log_level or (logging.DEBUG if opts.debug else default)
            self._logs = LogSetup(opts.log_format, level, opts.log_stream)
        self._token = sflog.bind(run_id=run_id)
        threshold = opts.lag_threshold or config.sla.loop_lag_threshold
        loop = asyncio.get_running_loop()
        if opts.debug:
            self._debug_was = loop.get_debug()
            loop.set_debug(True)
            loop.slow_callback_duration = threshold
        if opts.metrics_port is not None:
            self.metrics_port = self.metrics.serve(opts.metrics_port, opts.metrics_addr)
            log.info("metrics on http://%s:%d/metrics", opts.metrics_addr, self.metrics_port)
        self.metrics.run.start()
        if opts.metrics_file is not None:  # a failed run keeps the last success it knew
            self.metrics.run.last_success = last_success_in(opts.metrics_file)
        self._started = True
        self.memory.start()
        self.leaks.start()
        self.lag = LoopLagMonitor(
            threshold, interval=opts.lag_interval, on_sample=self.metrics.observe_lag
        )
        self.lag.start()

    def written(self, records: Sequence[EndpointRecord]) -> None:
        """Ledger rows just committed: count them; log each dead letter with its request id
        (the writer is not the fetch task, so the fields travel with the line)."""
        metrics = self.metrics
        for r in records:
            # Kind and outcome are StrEnums: str keys already, hashed as str ("loaded" and
            # Outcome.LOADED are one key); ``.value`` is a Python-level property.
            kind = r.endpoint.kind
            metrics.endpoints.inc((kind, r.outcome))
            metrics.run.records_loaded += r.records_loaded
            if r.records:
                metrics.records.inc(kind, r.records)
            if r.outcome is Outcome.QUARANTINED:
                metrics.dead_letters.inc(kind)
                # One line on the screen: a decoder bug's traceback is in the letter
                # and in the JSON log (``traceback``).
                message = r.error_message or ""
                log.warning(
                    "payload quarantined as a dead letter: %s: %s",
                    r.error_kind, message.partition("\n")[0],
                    extra={"sf": {"supplier": r.endpoint.supplier_id, "kind": kind.value,
                                  "url": r.endpoint.url, "request_id": r.request_id,
                                  "attempt": r.attempts, "traceback": message,
                                  **request_fields("dead_letter", r.http_status, r.bytes,
                                                   r.elapsed, r.error_kind)}},
                )  # fmt: skip

    async def stop(self) -> None:
        """End of the run: close the transport, then measure lag, memory and leaks."""
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None
        if self.lag is not None:
            self.lag.stop()
            self._results["loop_lag"] = self.lag.stats()
        self._results["memory"] = self.memory.stop()
        leaks = await self.leaks.finish()
        self._results["leaks"] = {**leaks.as_dict(), "findings": leaks.findings()}
        for finding in leaks.findings():
            log.error("leak: %s", finding)
        self._results["hosts"] = self._hosts()
        self._results["peak_in_flight"] = self.observer.peak_in_use
        if self._debug_was is not None:
            asyncio.get_running_loop().set_debug(self._debug_was)

    def finished(self, summary: RunSummary) -> None:
        """The run is recorded: its batch-job gauges and one ``run_finished`` line."""
        succeeded = not summary.interrupted and not summary.flagged
        succeeded = succeeded and not summary.outcomes.get(Outcome.PENDING.value)
        loaded = summary.buckets.get("loaded", summary.records)
        self.metrics.run.finish(
            duration=summary.wall_seconds,
            records_loaded=loaded,
            succeeded_at=time.time() if succeeded else None,
        )
        fields = _run_fields(summary, succeeded)
        log.info(
            "run finished: %d endpoints, %d failed, %d records loaded in %.2f s%s",
            summary.endpoints, fields["summary"]["failed"], loaded, summary.wall_seconds,
            "" if succeeded else " (not a success)",
            extra={"sf": fields},
        )  # fmt: skip

    def close(self) -> None:
        """After :meth:`stop` (and :meth:`finished`, when the run got that far): write the
        metrics textfile, stop serving metrics, take the log handler off. Idempotent."""
        if self._started and self.options.metrics_file is not None:
            self.metrics.write_textfile(self.options.metrics_file)
        self._started = False
        self.metrics.close()
        if self._token is not None:
            sflog.unbind(self._token)
            self._token = None
        if self._logs is not None:
            self._logs.close()
            self._logs = None

    def _hosts(self) -> dict[str, dict[str, Any]]:
        hosts: dict[str, dict[str, Any]] = {}
        for host, usage in self.observer.hosts.items():
            hosts[host] = usage.as_dict()
        for host, pool in self.pool.hosts.items():
            hosts.setdefault(host, {}).update(pool.as_dict())
        return dict(sorted(hosts.items()))

    def report(
        self,
        records: Sequence[EndpointRecord],
        wall_seconds: float,
        config: FeedConfig,
        *,
        handled: int | None = None,
    ) -> dict[str, Any]:
        """``handled``: the endpoints this run finished, when this process did not fetch
        them itself (a scaled-out run's shards); by default what its observer counted."""
        return build_report(
            records,
            wall_seconds=wall_seconds,
            config=config,
            handled=self.observer.finished_count if handled is None else handled,
            telemetry=self._results,
        )


def _run_fields(summary: RunSummary, succeeded: bool) -> dict[str, Any]:
    """The ``run_finished`` line's fields: the summary's figures (not the report)."""
    figures = summary.to_dict()
    outcomes = summary.outcomes
    failed = outcomes.get("failed", 0) + outcomes.get("quarantined", 0)
    return {
        "event": "run_finished",
        "bytes": summary.bytes,
        "duration_s": figures["wall_seconds"],
        "summary": {"succeeded": succeeded, "failed": failed}
        | {k: figures[k] for k in _RUN_FIGURES},
    }


_RUN_FIGURES = (
    "endpoints", "outcomes", "failures_by_reason", "records", "records_loaded",
    "records_by_bucket", "conflicts", "documents", "stale_documents", "error_rate",
    "error_rate_threshold", "flagged", "interrupted", "ok",
)  # fmt: skip


async def _database_peers(url: str) -> list[str]:
    """``ip:port`` of a PostgreSQL sink's server, as the TCP table shows it, else ``[]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        return []
    host, port = parts.hostname or "localhost", parts.port or 5432
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:  # the sink could not connect either, so it holds no connection
        return []
    return sorted({f"{info[4][0]}:{port}" for info in infos})


def _database_path(url: str) -> str:
    """The file behind a ``sqlite:///`` URL (as /proc shows it), else ``""``."""
    scheme, _, rest = url.partition("://")
    if scheme != "sqlite" or not rest.startswith("/") or rest == "/:memory:":
        return ""
    return str(Path(rest[1:]).resolve())
