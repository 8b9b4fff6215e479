"""Prometheus metrics of a run, in a registry of its own (two runs in one process, or
two tests, never collide in the global one).

Served over HTTP during a run (``--metrics-port``) and/or written to a textfile at the
end (``--metrics-file``, for cron + node_exporter's textfile collector).

The hot path keeps plain Python numbers: a dict of ints per counter and a list of bucket
counts per histogram, updated with no lock and no ``labels()`` call (prometheus_client's
``Counter.labels(...).inc()`` takes two locks and hashes its labels every time, and its
``Histogram.observe`` walks the buckets in Python). A custom collector turns them into
the same metric families at scrape time and when the textfile is written
(``exposition.py``, imported only then). A scrape runs
on the server's thread while the loop updates: it reads copies (``list(d.items())``,
``list(counts)``: single C calls under the GIL), and a histogram's ``_count`` is the sum
of the buckets it read, so the two always agree.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

__all__ = [
    "CREATED_SERIES_ENV",
    "METRICS_ADDRESS",
    "Counter",
    "Histogram",
    "Metrics",
    "RunGauges",
    "created_series",
    "last_success_in",
]

# Metrics name suppliers, hosts and error kinds: served on loopback unless asked otherwise.
METRICS_ADDRESS = "127.0.0.1"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CREATED_SERIES_ENV = "PROMETHEUS_DISABLE_CREATED_SERIES"


def created_series(env: Mapping[str, str]) -> bool:
    """Whether to expose ``_created`` series, as prometheus_client decides it from its
    environment variable (only the CLI reads the environment, and passes this in)."""
    return env.get(CREATED_SERIES_ENV, "False").lower() not in ("true", "1", "t")


class Histogram:
    """Bucket counts (not cumulative; the last is +Inf), their sum and creation time."""

    __slots__ = ("bounds", "counts", "created", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, i.e. Prometheus' "le" bucket.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> tuple[list[tuple[float, int]], float]:
        """Cumulative ``(bound, count)`` pairs ending with ``inf``, and the sum."""
        counts, total = list(self.counts), self.total
        out: list[tuple[float, int]] = []
        acc = 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            acc += n
            out.append((bound, acc))
        return out, total


class Counter:
    """Counts by label value (a tuple for several labels), and when each first appeared."""

    __slots__ = ("created", "values")

    def __init__(self) -> None:
        self.values: dict[Any, float] = {}
        self.created: dict[Any, float] = {}

    def inc(self, key: Any, amount: float = 1) -> None:
        try:
            self.values[key] += amount
        except KeyError:
            self.created[key] = time.time()
            self.values[key] = amount


class RunGauges:
    """The batch job's own figures, as Prometheus' batch-job guidance has them: when it
    last succeeded, how long it ran and what it loaded.

    While the run goes, ``duration`` is the time so far and ``records_loaded`` what has
    been committed so far; :meth:`finish` sets the ledger's final figures. A run succeeds
    when it finished (not interrupted, nothing pending) with its error rate within
    ``error_rate_threshold``, i.e. when ``supplyfeed run`` exits 0 by default. A failed
    run keeps the last success it was given (see :func:`last_success_in`), so an alert on
    ``time() - supplyfeed_last_success_timestamp_seconds`` keeps counting."""

    __slots__ = ("_clock", "_t0", "final_duration", "last_success", "records_loaded")
    LAST_SUCCESS: ClassVar[str] = "supplyfeed_last_success_timestamp_seconds"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0: float | None = None
        self.final_duration: float | None = None
        self.last_success: float | None = None  # Unix time
        self.records_loaded = 0

    def start(self) -> None:
        self._t0 = self._clock()

    def finish(self, *, duration: float, records_loaded: int, succeeded_at: float | None) -> None:
        """``succeeded_at``: the Unix time the run succeeded, None when it did not."""
        self.final_duration = duration
        self.records_loaded = records_loaded
        if succeeded_at is not None:
            self.last_success = succeeded_at

    @property
    def duration(self) -> float | None:
        if self.final_duration is not None:
            return self.final_duration
        return None if self._t0 is None else self._clock() - self._t0


def last_success_in(textfile: Path) -> float | None:
    """``supplyfeed_last_success_timestamp_seconds`` from a textfile an earlier run wrote
    (None when there is none, or it is unreadable: the next success writes it afresh)."""
    try:
        text = textfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == RunGauges.LAST_SUCCESS:
            try:
                return float(value)
            except ValueError:
                return None
    return None


class Metrics:
    """``created_series``: expose ``*_created`` samples (see :func:`created_series`)."""

    def __init__(self, *, created_series: bool = True) -> None:
        self.created_series = created_series
        self._registry: CollectorRegistry | None = None
        self.run = RunGauges()
        self.requests = Counter()  # by outcome
        self.retries = Counter()  # by reason
        self.bytes = Counter()  # by supplier
        self.endpoints = Counter()  # by (kind, outcome)
        self.records = Counter()  # by kind
        self.dead_letters = Counter()  # by kind
        self.latency: dict[str, Histogram] = {}  # by host
        self.lag = Histogram(_LAG_BUCKETS)
        self.observe_lag: Callable[[float], None] = self.lag.observe
        self._in_flight: Callable[[], float] | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._selector: selectors.BaseSelector | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry of these metrics, made on first use: a run that
        neither serves nor writes them never imports prometheus_client (about 18 ms of
        start-up, with wsgiref)."""
        if self._registry is None:
            from .exposition import new_registry

            self._registry = new_registry(self)
        return self._registry

    def track_in_flight(self, current: Callable[[], float]) -> None:
        """In-flight requests read at scrape time: no cost per request."""
        self._in_flight = current

    def in_flight(self) -> float:
        return 0.0 if self._in_flight is None else float(self._in_flight())

    # -- updates (hot path) -----------------------------------------------------------
    def latency_for(self, host: str) -> Histogram:
        """The host's latency histogram (callers may keep it: no lookup per request)."""
        h = self.latency.get(host)
        if h is None:
            h = self.latency[host] = Histogram(_LATENCY_BUCKETS)
        return h

    def request(self, outcome: str, host: str, seconds: float) -> None:
        self.requests.inc(outcome)
        self.latency_for(host).observe(seconds)

    def retry(self, reason: str) -> None:
        self.retries.inc(reason)

    def payload(self, supplier: str, size: int) -> None:
        self.bytes.inc(supplier, size)

    def endpoint(self, kind: str, outcome: str, records: int) -> None:
        self.endpoints.inc((kind, outcome))
        if records:
            self.records.inc(kind, records)
        if outcome == "quarantined":
            self.dead_letters.inc(kind)

    # -- exposition -------------------------------------------------------------------
    def serve(self, port: int, addr: str = METRICS_ADDRESS) -> int:
        """Serve ``/metrics`` from a thread; returns the bound port (``port=0``: any).

        Not ``prometheus_client.start_http_server``: its ``serve_forever`` polls for
        shutdown every 0.5 s, which added up to half a second to every run's wall time.
        Here the thread sleeps in ``select`` on the listening socket and a wake-up socket:
        no wake-ups during the run, and :meth:`close` returns at once."""
        from .exposition import metrics_server, serve_requests

        server = metrics_server(addr, port, self.registry)
        self._wake = socket.socketpair()
        # Every descriptor is opened here, before the leak check's baseline is taken.
        self._selector = selectors.DefaultSelector()
        self._selector.register(server, selectors.EVENT_READ)
        self._selector.register(self._wake[1], selectors.EVENT_READ)
        thread = threading.Thread(
            target=serve_requests,
            args=(server, self._selector, self._wake[1]),
            name="supplyfeed-metrics",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return int(server.server_address[1])

    @property
    def address(self) -> tuple[str, int] | None:
        """The (host, port) ``/metrics`` is served on, while it is."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        if self._wake is not None:
            self._wake[0].send(b"x")
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._server is not None:
            self._server.server_close()
            self._server = None
        if self._wake is not None:
            for s in self._wake:
                s.close()
            self._wake = None

    def write_textfile(self, path: Path) -> None:
        """Atomically (temp file + rename), as the textfile collector requires."""
        from prometheus_client import write_to_textfile

        write_to_textfile(str(path), self.registry)
