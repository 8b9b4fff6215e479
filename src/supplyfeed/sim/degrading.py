"""A simulated supplier host that degrades under load (for adaptive concurrency).

Up to ``capacity`` concurrent requests are served in ``base_latency``; beyond that each
extra request in flight adds ``base_latency`` to every answer (the host queues), and
beyond ``overload`` concurrent requests it answers ``503`` at once, as an overloaded
gateway does. ``/doc/{n}`` serves one canonical inventory document per ``n``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from types import TracebackType

import orjson
from aiohttp import web

__all__ = ["DegradingHost"]


class DegradingHost:
    def __init__(self, *, capacity: int = 4, overload: int = 8, base_latency: float = 0.01) -> None:
        self.capacity = capacity
        self.overload = overload
        self.base_latency = base_latency
        self.in_flight = 0
        self.peak_in_flight = 0
        self.statuses: Counter[int] = Counter()
        self.served: Counter[int] = Counter()  # 200s per document number
        self.base = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> DegradingHost:
        app = web.Application()
        app.router.add_get("/doc/{n}", self._doc)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def urls(self, n: int) -> list[str]:
        return [f"{self.base}/doc/{i}" for i in range(n)]

    async def _doc(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if self.in_flight >= self.overload:
            self.statuses[503] += 1
            return web.Response(status=503)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            queued = max(0, self.in_flight - self.capacity)
            await asyncio.sleep(self.base_latency * (1 + queued))
        finally:
            self.in_flight -= 1
        self.statuses[200] += 1
        self.served[n] += 1
        doc = {
            "supplier_id": "A",
            "warehouse_id": f"W{n}",
            "as_of": "2026-11-28T07:45:00Z",
            "items": [{"sku": "SKU-1", "on_hand": n, "available": n}],
        }
        return web.Response(body=orjson.dumps(doc), content_type="application/json")
