"""Connection-pool visibility through aiohttp's public ``TraceConfig`` hooks (protocol 2).

The guide says to watch ``connector._acquired``; private attributes change between
releases and only show the present moment. The trace hooks tell, per host, how long
requests queued for a pooled connection, how many connections were created and how
many reused, and what DNS cost. Connection events carry no URL, so ``on_request_start``
puts the host into the per-request ``trace_config_ctx`` that every later hook receives.

Only the hooks needed are attached: each one is an awaited signal on every request.
An open response is found by the leak check through the socket it holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

__all__ = ["HostPoolStats", "PoolTracer"]


@dataclass(slots=True)
class HostPoolStats:
    """What the pool did for one host (``host:port``)."""

    requests: int = 0
    queued: int = 0  # requests that waited for a free connection in aiohttp's pool
    queued_seconds: float = 0.0
    new_connections: int = 0
    connect_seconds: float = 0.0
    reused_connections: int = 0
    dns_lookups: int = 0
    dns_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "pool_queued": self.queued,
            "pool_queued_seconds": round(self.queued_seconds, 4),
            "new_connections": self.new_connections,
            "connect_seconds": round(self.connect_seconds, 4),
            "reused_connections": self.reused_connections,
            "dns_lookups": self.dns_lookups,
            "dns_seconds": round(self.dns_seconds, 4),
        }


class PoolTracer:
    """Collects per-host pool statistics from one or more aiohttp sessions.

    ``on_request_start`` and ``on_connection_reuseconn`` fire for (nearly) every request,
    so they do one dict lookup and one increment: the request's :class:`HostPoolStats`
    is found by the URL's raw authority (a plain attribute of yarl's parsed URL; the
    ``host_port_subcomponent`` label is computed once per authority) and kept on the
    trace context for the rarer events (queueing, new connections, DNS), which read the
    clock once each.
    """

    def __init__(self) -> None:
        self.hosts: dict[str, HostPoolStats] = {}
        self._by_authority: dict[str, HostPoolStats] = {}

    def trace_config(self) -> aiohttp.TraceConfig:
        tc = aiohttp.TraceConfig()
        tc.on_request_start.append(self._request_start)
        tc.on_connection_queued_start.append(self._queued_start)
        tc.on_connection_queued_end.append(self._queued_end)
        tc.on_connection_create_start.append(self._create_start)
        tc.on_connection_create_end.append(self._create_end)
        tc.on_connection_reuseconn.append(self._reuse)
        tc.on_dns_resolvehost_start.append(self._dns_start)
        tc.on_dns_resolvehost_end.append(self._dns_end)
        tc.freeze()
        return tc

    def _stats_for(self, url: URL) -> HostPoolStats:
        stats = self._by_authority.get(url.raw_authority)
        if stats is None:
            host = url.host_port_subcomponent or "?"
            stats = self.hosts.get(host)
            if stats is None:
                stats = self.hosts[host] = HostPoolStats()
            self._by_authority[url.raw_authority] = stats
        return stats

    def _stats(self, ctx: SimpleNamespace) -> HostPoolStats:
        stats: HostPoolStats | None = getattr(ctx, "stats", None)
        if stats is None:  # a connection event without on_request_start: not expected
            stats = ctx.stats = self.hosts.setdefault("?", HostPoolStats())
        return stats

    async def _request_start(
        self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, p: aiohttp.TraceRequestStartParams
    ) -> None:
        stats = self._by_authority.get(p.url.raw_authority) or self._stats_for(p.url)
        stats.requests += 1
        ctx.stats = stats

    async def _reuse(self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        self._stats(ctx).reused_connections += 1

    async def _queued_start(self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.queued_at = time.monotonic()

    async def _queued_end(self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        stats = self._stats(ctx)
        stats.queued += 1
        stats.queued_seconds += time.monotonic() - ctx.queued_at

    async def _create_start(self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.create_at = time.monotonic()

    async def _create_end(self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        stats = self._stats(ctx)
        stats.new_connections += 1
        stats.connect_seconds += time.monotonic() - ctx.create_at

    async def _dns_start(self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.dns_at = time.monotonic()

    async def _dns_end(self, _s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        stats = self._stats(ctx)
        stats.dns_lookups += 1
        stats.dns_seconds += time.monotonic() - ctx.dns_at
