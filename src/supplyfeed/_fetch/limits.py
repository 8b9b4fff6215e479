"""Concurrency limits: global, per supplier and per host, all held only while a request
is on the wire (never while sleeping between retries).

A host is ``(scheme, host, port)``, the same triple aiohttp's ``limit_per_host`` uses,
so two ports of one machine are two hosts. Slots are taken in a fixed order (host,
then supplier, then global) so no two requests can deadlock, and a request waiting for
a busy host does not hold one of the global slots that requests to idle hosts need.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

__all__ = ["HostKey", "Limiter", "host_key"]

HostKey = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=8192)
def host_key(url: str) -> HostKey:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return (scheme, (parts.hostname or "").lower(), port)


class Limiter:
    """Semaphores for the global, per-supplier and per-host limits."""

    def __init__(
        self,
        max_concurrency: int,
        limit_per_host: int,
        supplier_limits: Mapping[str, int] | None = None,
    ) -> None:
        self._global = asyncio.Semaphore(max_concurrency)
        self._per_host_limit = limit_per_host
        self._hosts: dict[HostKey, asyncio.Semaphore] = {}
        self._suppliers = {k: asyncio.Semaphore(v) for k, v in (supplier_limits or {}).items()}
        self.in_flight = 0
        self.peak_in_flight = 0

    def _host(self, key: HostKey) -> asyncio.Semaphore:
        sem = self._hosts.get(key)
        if sem is None:
            sem = self._hosts[key] = asyncio.Semaphore(self._per_host_limit)
        return sem

    @asynccontextmanager
    async def slot(self, url: str, supplier_id: str = "") -> AsyncIterator[None]:
        supplier = self._suppliers.get(supplier_id)
        async with self._host(host_key(url)):
            if supplier is not None:
                await supplier.acquire()
            try:
                async with self._global:
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                    try:
                        yield
                    finally:
                        self.in_flight -= 1
            finally:
                if supplier is not None:
                    supplier.release()
