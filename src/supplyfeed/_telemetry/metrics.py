"""Prometheus metrics of a run, in a registry of its own (two runs in one process, or
two tests, never collide in the global one).

Served over HTTP during a run (``--metrics-port``) and/or written to a textfile at the
end (``--metrics-file``, for cron + node_exporter's textfile collector). Label children
are cached: ``labels()`` takes a lock and hashes its arguments on every call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
    write_to_textfile,
)

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "supplyfeed_requests", "HTTP requests (attempts) by outcome", ["outcome"], registry=r
        )
        self._retries = Counter(
            "supplyfeed_retries", "Retries by the reason of the failed attempt", ["reason"],
            registry=r,
        )  # fmt: skip
        self._latency = Histogram(
            "supplyfeed_request_duration_seconds", "Attempt latency per supplier host",
            ["host"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._bytes = Counter(
            "supplyfeed_response_bytes", "Payload bytes received", ["supplier"], registry=r
        )
        self._endpoints = Counter(
            "supplyfeed_endpoints", "Endpoints finished by outcome", ["kind", "outcome"],
            registry=r,
        )  # fmt: skip
        self._records = Counter(
            "supplyfeed_records", "Canonical records loaded by feed kind", ["kind"], registry=r
        )
        self._dead = Counter(
            "supplyfeed_dead_letters", "Payloads quarantined as dead letters", ["kind"],
            registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "supplyfeed_in_flight_requests", "Requests on the wire now", registry=r
        )
        self._lag = Histogram(
            "supplyfeed_event_loop_lag_seconds", "Event-loop scheduling lag",
            buckets=_LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.observe_lag: Callable[[float], None] = self._lag.observe
        self._children: dict[tuple[str, str], Any] = {}
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def track_in_flight(self, current: Callable[[], float]) -> None:
        """In-flight requests read at scrape time: no cost per request."""
        self.in_flight.set_function(current)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, "\x00".join(labels))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- updates (hot path) -----------------------------------------------------------
    def request(self, outcome: str, host: str, seconds: float) -> None:
        self._child(self._requests, outcome).inc()
        self._child(self._latency, host).observe(seconds)

    def retry(self, reason: str) -> None:
        self._child(self._retries, reason).inc()

    def payload(self, supplier: str, size: int) -> None:
        self._child(self._bytes, supplier).inc(size)

    def endpoint(self, kind: str, outcome: str, records: int) -> None:
        self._child(self._endpoints, kind, outcome).inc()
        if records:
            self._child(self._records, kind).inc(records)
        if outcome == "quarantined":
            self._child(self._dead, kind).inc()

    # -- exposition -------------------------------------------------------------------
    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serve ``/metrics`` from a thread; returns the bound port (``port=0``: any).

        Not ``prometheus_client.start_http_server``: its ``serve_forever`` polls for
        shutdown every 0.5 s, which added up to half a second to every run's wall time."""
        server = make_server(addr, port, make_wsgi_app(self.registry), handler_class=_Quiet)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="supplyfeed-metrics",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return int(server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def write_textfile(self, path: Path) -> None:
        """Atomically (temp file + rename), as the textfile collector requires."""
        write_to_textfile(str(path), self.registry)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one stderr line per scrape would drown our own logs
