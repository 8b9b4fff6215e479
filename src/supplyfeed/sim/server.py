"""The running fleet: one aiohttp low-level server per supplier host on 127.0.0.1.

Each host is its own port, so a client's per-host limit applies to it as to a real
supplier. The handler counts in-flight requests per port exactly (up on entry, down when
the answer is finished or abandoned) so tests can check that a client never exceeded its
``limit_per_host``; it then sleeps a seeded latency and acts out the endpoint's fault.

``handler_cancellation`` is on: when a client gives up on a hanging or dripping request
and closes the connection, the handler is cancelled at once instead of living on until
shutdown (aiohttp's default since 3.9 keeps it running).

A host may also behave like a real supplier's gateway (``hosts.py``: an OAuth2 token
endpoint, rate-limit headers, degradation under load), and hosts may be bound to fixed
ports (``ports.py``) so that the fleet keeps its URLs from one process to the next.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import hashlib
import math
import random
import socket
import struct
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from .._config import FieldMapping
from .._models import DocKind
from .client_view import decoded_view, meeting_endpoints
from .faults import Fault
from .fleet_spec import EndpointSpec, FleetSpec
from .hosts import HostBehaviour, HostCounters, HostRuntime
from .paged import PAGED, PAGINATION, serve_page
from .ports import HOST, listen_socket
from .render import CONTENT_TYPES, get_corrupter, get_mapping, get_renderer
from .truth import GroundTruth, build_truth

__all__ = ["EndpointStats", "FleetStats", "PortStats", "SupplierFleet", "feed_entry"]

_HOST: Final = HOST
_PAD_CHUNK: Final = 1024 * 1024
_DEFAULT_MAX_PAYLOAD: Final = 1024 * 1024 * 1024  # FeedConfig.limits.max_payload_bytes default


@dataclass(slots=True)
class PortStats:
    in_flight: int = 0
    peak_in_flight: int = 0
    requests: int = 0


@dataclass(slots=True)
class EndpointStats:
    """``statuses`` counts answers by status; ``no_response`` the resets and hangs;
    ``faulted`` the requests that got the endpoint's fault."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    no_response: int = 0
    faulted: int = 0


@dataclass(slots=True)
class FleetStats:
    """Live counters of a running fleet (per port, per endpoint URL, total)."""

    ports: dict[int, PortStats] = field(default_factory=dict)
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)
    total_requests: int = 0
    unknown_paths: int = 0

    def peak_in_flight(self, port: int | None = None) -> int:
        """The peak in-flight count of one port, or the highest over all ports."""
        if port is not None:
            return self.ports[port].peak_in_flight
        return max((p.peak_in_flight for p in self.ports.values()), default=0)

    def in_flight(self) -> int:
        return sum(p.in_flight for p in self.ports.values())

    def reset_peaks(self) -> None:
        """Start a new measurement: peaks drop to the current in-flight counts."""
        for p in self.ports.values():
            p.peak_in_flight = p.in_flight


@dataclass(slots=True)
class _Served:
    """One endpoint at runtime: its bytes, its request counter and its stats."""

    spec: EndpointSpec
    url: str
    body: bytes
    content_type: str
    stats: EndpointStats
    requests: int = 0
    corrupt_body: bytes = b""
    etag: str = ""  # strong validator of ``body``; empty when the fleet serves no ETags


class _Flight:
    """One request's place in its port's in-flight count; ``land`` is idempotent so a
    fault can land the request before it closes the connection (the client may reconnect
    before the handler's ``finally`` runs)."""

    __slots__ = ("_landed", "_port")

    def __init__(self, port: PortStats) -> None:
        self._port = port
        self._landed = False
        port.in_flight += 1
        port.requests += 1
        port.peak_in_flight = max(port.peak_in_flight, port.in_flight)

    def land(self) -> None:
        if not self._landed:
            self._landed = True
            self._port.in_flight -= 1


class SupplierFleet:
    """Serve a :class:`FleetSpec` on 127.0.0.1 while the ``async with`` block runs.

    >>> spec = FleetSpec.generate(endpoints=20, hosts=2)
    >>> async with SupplierFleet(spec) as fleet:  # doctest: +SKIP
    ...     urls = fleet.urls

    ``behaviours`` gives hosts (by index) a :class:`~supplyfeed.sim.hosts.HostBehaviour`;
    ``ports`` asks for a fixed port per host (0 or absent: ephemeral). A fixed port that
    is taken falls back to an ephemeral one, listed in :attr:`moved_ports`.
    """

    def __init__(
        self,
        spec: FleetSpec,
        *,
        seed: int = 0,
        shutdown_timeout: float = 0.25,
        backlog: int = 2048,
        etags: bool = True,
        behaviours: Mapping[int, HostBehaviour] | None = None,
        ports: Sequence[int] = (),
    ) -> None:
        self.spec = spec
        self.etags = etags  # healthy answers carry an ETag and honour If-None-Match
        self.seed = seed
        self.stats = FleetStats()
        self.behaviours = dict(behaviours or {})
        for host in self.behaviours:
            if not 0 <= host < spec.hosts:
                raise ValueError(f"behaviour for host {host}, not in 0..{spec.hosts - 1}")
        if len(ports) > spec.hosts or any(not 0 <= p < 65536 for p in ports):
            raise ValueError("at most one port per host, each in 0..65535")
        self._wanted_ports = list(ports)
        self.moved_ports: dict[int, int] = {}  # wanted port -> the ephemeral one it became
        # One made-up client secret per environment variable name (see hosts.py).
        self._secrets = {
            b.oauth2.secret_env: HostRuntime.new_secret()
            for b in self.behaviours.values()
            if b.oauth2 is not None
        }
        self._runtimes: dict[int, HostRuntime] = {}
        self._shutdown_timeout = shutdown_timeout
        self._backlog = backlog
        # Per endpoint, its body in every poll round (see EndpointSpec.revisions).
        self._bodies = [tuple(_render(ep, r) for r in range(ep.rounds)) for ep in spec.endpoints]
        self.round = 0
        self._runners: list[web.ServerRunner] = []
        self._ports: list[int] = []
        self._routes: list[dict[str, _Served]] = []

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> SupplierFleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._runners:
            raise RuntimeError("fleet already started")
        self._runtimes = {
            host: HostRuntime(b, self._secrets.get(b.oauth2.secret_env, "") if b.oauth2 else "")
            for host, b in self.behaviours.items()
        }
        try:
            for host in range(self.spec.hosts):
                await self._start_host(host)
        except BaseException:
            await self.close()
            raise
        self._routes = [{} for _ in range(self.spec.hosts)]
        for ep, bodies in zip(self.spec.endpoints, self._bodies, strict=True):
            self._add_route(ep, bodies[min(self.round, len(bodies) - 1)])

    async def _start_host(self, host: int) -> None:
        port_stats = PortStats()

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            return await self._handle(host, port_stats, request)

        server = web.Server(handle, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        self._runners.append(runner)
        wanted = self._wanted_ports[host] if host < len(self._wanted_ports) else 0
        sock = listen_socket(wanted)
        try:
            await web.SockSite(runner, sock, backlog=self._backlog).start()
        except BaseException:
            sock.close()  # once started, the server owns (and closes) the socket
            raise
        port = int(runner.addresses[0][1])
        if wanted and port != wanted:
            self.moved_ports[wanted] = port
        self._ports.append(port)
        self.stats.ports[port] = port_stats

    def _add_route(self, ep: EndpointSpec, body: bytes) -> None:
        url = f"http://{_HOST}:{self._ports[ep.host]}{ep.path}"
        stats = self.stats.endpoints.setdefault(url, EndpointStats())
        served = _Served(
            ep, url, body, CONTENT_TYPES.get(ep.format, "application/octet-stream"), stats
        )
        self._point(served, body)
        self._routes[ep.host][ep.path] = served

    def _point(self, served: _Served, body: bytes) -> None:
        served.body = body
        if self.etags:
            served.etag = f'"{hashlib.sha256(body).hexdigest()[:24]}"'
        if served.spec.fault is not None and served.spec.fault.kind == "malformed":
            served.corrupt_body = get_corrupter(served.spec.format)(body)

    def advance(self) -> int:
        """The next poll round: endpoints with revisions serve their next body (a
        correction, shifted pages) from now on, with a new ETag. Returns the round."""
        self.round += 1
        for served_by_path in self._routes:
            for served in served_by_path.values():
                self._point(served, self.body_of(served.spec))
        return self.round

    async def close(self) -> None:
        """Stop every server; handlers still running (hangs, drips) are cancelled."""
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        self._ports = []

    # -- addresses ----------------------------------------------------------------------
    @property
    def ports(self) -> list[int]:
        """One port per host, in host order."""
        return list(self._ports)

    @property
    def urls(self) -> list[str]:
        """Every endpoint URL, in the order of ``spec.endpoints``."""
        return [self.url_of(ep) for ep in self.spec.endpoints]

    def url_of(self, endpoint: EndpointSpec) -> str:
        if not self._ports:
            raise RuntimeError("the fleet is not running")
        return f"http://{_HOST}:{self._ports[endpoint.host]}{endpoint.path}"

    def body_of(self, endpoint: EndpointSpec, round_: int | None = None) -> bytes:
        """The bytes a healthy answer of ``endpoint`` carries (in the current round)."""
        bodies = self._bodies[self.spec.endpoints.index(endpoint)]
        return bodies[min(self.round if round_ is None else round_, len(bodies) - 1)]

    @property
    def env(self) -> dict[str, str]:
        """The environment a client needs (the made-up OAuth2 client secrets), by name."""
        return dict(self._secrets)

    def host_counters(self, host: int) -> HostCounters:
        """What the behaving ``host`` issued and refused (see hosts.py)."""
        return self._runtimes[host].counters

    def token_url(self, host: int) -> str:
        oauth = self.behaviours[host].oauth2
        if oauth is None:
            raise ValueError(f"host {host} has no token endpoint")
        return f"http://{_HOST}:{self._ports[host]}{oauth.path}"

    def auth_of(self, supplier_id: str) -> dict[str, Any] | None:
        """The feeds-file ``auth`` of a supplier whose endpoints are behind a token
        endpoint (the secret named by its environment variable), else None."""
        hosts = {ep.host for ep in self.spec.endpoints if ep.supplier_id == supplier_id}
        oauth_hosts = sorted(h for h in hosts if (b := self.behaviours.get(h)) and b.oauth2)
        if not oauth_hosts:
            return None
        if len(oauth_hosts) > 1:
            raise ValueError(f"supplier {supplier_id} spans several token endpoints")
        oauth = self.behaviours[oauth_hosts[0]].oauth2
        assert oauth is not None
        return {
            "type": "oauth2",
            "token_url": self.token_url(oauth_hosts[0]),
            "client_id": oauth.client_id,
            "client_secret": f"${{{oauth.secret_env}}}",
        }

    # -- what clients are told and what they must end with ------------------------------
    def feeds_document(
        self, sink: str = "sqlite:///supplyfeed.db", defaults: Mapping[str, object] | None = None
    ) -> dict[str, Any]:
        """A feeds file (docs/contract.md §3) listing every endpoint under its supplier, kind and
        format."""
        suppliers: dict[str, dict[tuple[str, str, bool], list[str]]] = {}
        for ep in self.spec.endpoints:
            feeds = suppliers.setdefault(ep.supplier_id, {})
            url = f"{self.url_of(ep)}{PAGED}link" if ep.paged else self.url_of(ep)
            feeds.setdefault((ep.kind.value, ep.format, ep.paged), []).append(url)
        doc: dict[str, Any] = {"sink": sink}
        if defaults:
            doc["defaults"] = dict(defaults)
        doc["suppliers"] = []
        for sid, feeds in suppliers.items():
            supplier: dict[str, Any] = {"id": sid}
            auth = self.auth_of(sid)
            if auth is not None:
                supplier["auth"] = auth
            supplier["feeds"] = [
                _paged(feed_entry(kind, fmt, urls), paged)
                for (kind, fmt, paged), urls in feeds.items()
            ]
            doc["suppliers"].append(supplier)
        return doc

    def expected(
        self,
        attempts: int = 3,
        timeout: float = 30.0,
        *,
        max_payload_bytes: int = _DEFAULT_MAX_PAYLOAD,
        polled: Sequence[int] | None = None,
    ) -> GroundTruth:
        """The ground truth for a client with ``attempts`` attempts of ``timeout`` seconds
        that polled every endpoint in the rounds ``polled`` (default: every round so far).
        Endpoints whose documents meet others are decoded as the client reads them."""
        triples = (
            (self.url_of(ep), ep, len(bodies[0]))
            for ep, bodies in zip(self.spec.endpoints, self._bodies, strict=True)
        )
        view = decoded_view(self.body_of, meeting_endpoints(self.spec.endpoints))
        return build_truth(
            triples,
            attempts=attempts,
            timeout=timeout,
            max_payload_bytes=max_payload_bytes,
            polled=range(self.round + 1) if polled is None else polled,
            view=view,
        )

    # -- serving ------------------------------------------------------------------------
    async def _handle(
        self, host: int, port_stats: PortStats, request: web.BaseRequest
    ) -> web.StreamResponse:
        flight = _Flight(port_stats)
        self.stats.total_requests += 1
        try:
            gateway = self._runtimes.get(host)
            if gateway is None:
                return await self._serve(host, request, flight, 0.0)
            if gateway.is_token_request(request):
                return await gateway.issue_token(request)
            refused = gateway.refuse(request, port_stats.in_flight)
            if refused is not None:
                served = self._routes[host].get(request.path.partition(PAGED)[0])
                if served is not None:
                    served.stats.statuses[refused.status] += 1
                return refused
            extra = gateway.extra_latency(port_stats.in_flight)
            response = await self._serve(host, request, flight, extra)
            if not response.prepared:  # a streamed answer's headers are gone already
                response.headers.update(gateway.rate_limit_headers())
            return response
        finally:
            flight.land()

    async def _serve(
        self, host: int, request: web.BaseRequest, flight: _Flight, extra_latency: float
    ) -> web.StreamResponse:
        served = self._routes[host].get(request.path.partition(PAGED)[0])
        if served is not None and PAGED in request.path:  # paged.py: every paging style
            served.stats.statuses[200] += 1
            return serve_page(served.body, served.spec.path, request)
        if served is None or PAGED in request.path:
            self.stats.unknown_paths += 1
            return web.Response(status=404, text="no such feed")
        served.requests += 1
        served.stats.requests += 1
        number = served.requests
        await asyncio.sleep(self._latency(served, number) + extra_latency)
        fault = served.spec.fault
        if fault is not None and fault.misbehaves_on(number):
            served.stats.faulted += 1
            return await _act(fault, served, request, flight)
        if served.etag and served.etag in request.headers.get("If-None-Match", ""):
            served.stats.statuses[304] += 1
            return web.Response(status=304, headers={"ETag": served.etag})
        served.stats.statuses[200] += 1
        return _ok(served, served.body)

    def _latency(self, served: _Served, number: int) -> float:
        # Seeded per (fleet seed, endpoint, request number): reproducible whatever the
        # order in which concurrent requests happen to arrive.
        rng = random.Random(f"{self.seed}|{served.spec.path}|{number}")
        return served.spec.latency.sample(rng)


def _render(ep: EndpointSpec, round_: int = 0) -> bytes:
    return get_renderer(ep.format)(ep.documents_at(round_), ep.kind, seed=ep.render_seed)


def _paged(feed: dict[str, Any], paged: bool) -> dict[str, Any]:
    if paged:
        feed["pagination"] = dict(PAGINATION["link"])
    return feed


def feed_entry(kind: str, fmt: str, urls: list[str]) -> dict[str, Any]:
    """One ``feeds`` entry of a feeds file, with the field mapping ``fmt`` needs."""
    feed: dict[str, Any] = {"kind": kind, "format": fmt, "urls": urls}
    mapping = get_mapping(fmt, DocKind(kind))
    if mapping is not None:
        feed["mapping"] = _mapping_dict(mapping)
    return feed


def _mapping_dict(mapping: FieldMapping) -> dict[str, Any]:
    return {
        "records": mapping.records,
        "fields": dict(mapping.fields),
        "constants": dict(mapping.constants),
    }


def _ok(served: _Served, body: bytes, status: int = 200) -> web.Response:
    headers = {"Content-Type": served.content_type}
    if served.etag and body is served.body:
        headers["ETag"] = served.etag
    return web.Response(status=status, body=body, headers=headers)


async def _act(
    fault: Fault, served: _Served, request: web.BaseRequest, flight: _Flight
) -> web.StreamResponse:
    """Act out ``fault`` on one request."""
    stats = served.stats
    if fault.kind in ("fail_then_ok", "not_found", "retry_after"):
        stats.statuses[fault.status] += 1
        headers = _retry_after_headers(fault) if fault.kind == "retry_after" else {}
        return web.Response(status=fault.status, text=f"simulated {fault.status}", headers=headers)
    if fault.kind == "malformed":
        stats.statuses[200] += 1
        return _ok(served, served.corrupt_body)
    if fault.kind in ("hang", "reset"):
        stats.no_response += 1
        if fault.kind == "reset":
            flight.land()
            _reset(request)
        return await _forever()
    stats.statuses[200] += 1
    if fault.kind == "truncate":
        return await _truncate(served, request, flight)
    if fault.kind == "drip":
        return await _drip(served, request, fault)
    return await _huge(served, request, fault)


def _retry_after_headers(fault: Fault) -> dict[str, str]:
    if not fault.http_date:
        return {"Retry-After": str(math.ceil(fault.seconds))}
    # An HTTP-date has whole seconds: round up so the client never waits too little.
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=math.ceil(fault.seconds) + 1)
    return {"Retry-After": email.utils.format_datetime(when.replace(microsecond=0), usegmt=True)}


def _reset(request: web.BaseRequest) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN: the client sees ECONNRESET."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _forever() -> web.StreamResponse:
    # Cancelled when the client closes the connection (handler_cancellation) or at
    # shutdown: the request never gets an answer.
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _stream(served: _Served, request: web.BaseRequest, length: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": served.content_type})
    response.content_length = length
    await response.prepare(request)
    return response


async def _truncate(
    served: _Served, request: web.BaseRequest, flight: _Flight
) -> web.StreamResponse:
    """The full Content-Length, half the body, then a FIN: a ContentLengthError."""
    response = await _stream(served, request, len(served.body))
    await response.write(served.body[: len(served.body) // 2])
    flight.land()
    if request.transport is not None:
        request.transport.close()
    return await _forever()


async def _drip(served: _Served, request: web.BaseRequest, fault: Fault) -> web.StreamResponse:
    body, step = served.body, fault.bytes_per_chunk
    response = await _stream(served, request, len(body))
    for start in range(0, len(body), step):
        if start:
            await asyncio.sleep(fault.delay)
        await response.write(body[start : start + step])
    await response.write_eof()
    return response


async def _huge(served: _Served, request: web.BaseRequest, fault: Fault) -> web.StreamResponse:
    """The real document, then newlines up to ``size_bytes``, written as the client reads."""
    body = served.body
    size = max(fault.size_bytes, len(body))
    response = await _stream(served, request, size)
    await response.write(body)
    remaining = size - len(body)
    pad = b"\n" * _PAD_CHUNK
    while remaining > 0:
        n = min(remaining, _PAD_CHUNK)
        await response.write(pad[:n])
        remaining -= n
    await response.write_eof()
    return response
