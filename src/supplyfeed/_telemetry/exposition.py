"""Prometheus exposition of a run's :class:`~supplyfeed._telemetry.metrics.Metrics`:
the registry with its collector, the metric families built at scrape time, and the
``/metrics`` server.

Imported only when metrics are served (``--metrics-port``) or written
(``--metrics-file``): the counters themselves need no prometheus_client.
"""

from __future__ import annotations

import selectors
import socket
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from .._exceptions import ConfigError

if TYPE_CHECKING:  # metrics.py imports this module (lazily): no import back
    from .metrics import Counter, Histogram, Metrics, RunGauges

__all__ = ["metrics_server", "new_registry", "serve_requests"]


def new_registry(metrics: Metrics) -> CollectorRegistry:
    """A registry of its own (two runs in one process, or two tests, never collide in
    the global one), collecting ``metrics`` at scrape time."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(metrics))
    return registry


def metrics_server(addr: str, port: int, registry: CollectorRegistry) -> WSGIServer:
    """A WSGI server for ``registry`` bound to ``addr:port`` (not yet serving)."""
    try:
        return make_server(addr, port, make_wsgi_app(registry), handler_class=_Quiet)
    except OSError as exc:  # a bad address, a port in use: the operator's to fix
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot serve metrics on {addr}:{port}: {reason}") from exc


def _le(bound: float) -> str:
    """A bucket bound as prometheus_client writes it."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def serve_requests(
    server: WSGIServer, selector: selectors.BaseSelector, wake: socket.socket
) -> None:
    """The server thread: answer each request as its socket turns readable, until a
    byte arrives on ``wake``."""
    while True:
        ready = selector.select()
        if any(key.fileobj is wake for key, _ in ready):
            return
        server.handle_request()  # the socket is readable: accepts without waiting


class _Collector:
    """The run's counters and histograms as Prometheus metric families."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def describe(self) -> Iterator[Metric]:
        return self._families(describe=True)

    def collect(self) -> Iterator[Metric]:
        return self._families(describe=False)

    def _families(self, *, describe: bool) -> Iterator[Metric]:
        m = self._m
        yield _counter(
            "supplyfeed_requests", "HTTP requests (attempts) by outcome", ("outcome",),
            None if describe else m.requests, m.created_series,
        )  # fmt: skip
        yield _counter(
            "supplyfeed_retries", "Retries by the reason of the failed attempt", ("reason",),
            None if describe else m.retries, m.created_series,
        )  # fmt: skip
        yield _histogram(
            "supplyfeed_request_duration_seconds", "Attempt latency per supplier host",
            "host", {} if describe else m.latency, m.created_series,
        )  # fmt: skip
        yield _counter(
            "supplyfeed_response_bytes", "Payload bytes received", ("supplier",),
            None if describe else m.bytes, m.created_series,
        )  # fmt: skip
        yield _counter(
            "supplyfeed_endpoints", "Endpoints finished by outcome", ("kind", "outcome"),
            None if describe else m.endpoints, m.created_series,
        )  # fmt: skip
        yield _counter(
            "supplyfeed_records", "Canonical records loaded by feed kind", ("kind",),
            None if describe else m.records, m.created_series,
        )  # fmt: skip
        yield _counter(
            "supplyfeed_dead_letters", "Payloads quarantined as dead letters", ("kind",),
            None if describe else m.dead_letters, m.created_series,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "supplyfeed_in_flight_requests", "Requests on the wire now",
            value=None if describe else m.in_flight(),
        )  # fmt: skip
        yield _histogram(
            "supplyfeed_event_loop_lag_seconds", "Event-loop scheduling lag",
            None, {} if describe else {"": m.lag}, m.created_series,
        )  # fmt: skip
        yield from _run_gauges(m.run, describe=describe)


def _run_gauges(run: RunGauges, *, describe: bool) -> Iterator[Metric]:
    """The batch-job gauges; one with no value yet (no success known) has no sample."""
    for name, doc, value in (
        (run.LAST_SUCCESS, "Unix time the last successful run finished", run.last_success),
        ("supplyfeed_run_duration_seconds", "Wall time of the run (so far, while it goes)",
         run.duration),
        ("supplyfeed_run_records_loaded", "Records the run loaded (so far, while it goes)",
         run.records_loaded),
    ):  # fmt: skip
        family = GaugeMetricFamily(name, doc)
        if not describe and value is not None:
            family.add_metric([], value)
        yield family


def _counter(
    name: str, doc: str, labels: tuple[str, ...], counter: Counter | None, created_series: bool
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    if counter is None:
        return family
    created = counter.created
    for key, n in list(counter.values.items()):
        values = [str(v) for v in key] if isinstance(key, tuple) else [str(key)]  # StrEnums
        family.add_metric(values, n, created.get(key) if created_series else None)
    return family


def _histogram(
    name: str,
    doc: str,
    label: str | None,
    by_label: Mapping[str, Histogram],
    created_series: bool,
) -> HistogramMetricFamily:
    """One family; ``label=None``: a single unlabelled histogram (under key "")."""
    family = HistogramMetricFamily(name, doc, labels=[label] if label else [])
    for value, h in list(by_label.items()):
        values = [value] if label else []
        buckets, total = h.buckets()
        family.add_metric(values, [(_le(b), n) for b, n in buckets], total)
        if created_series:
            family.add_sample(
                f"{name}_created",
                dict(zip([label] if label else [], values, strict=True)),
                h.created,
            )
    return family


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one stderr line per scrape would drown our own logs
