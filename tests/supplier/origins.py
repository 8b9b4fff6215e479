"""Local HTTP(S) servers on 127.0.0.1 that record every request byte for byte.

Two of them are two origins (same host, other port). A test scripts each path with a
handler; every request is kept as its raw request line and raw headers, so a test can
say exactly what an origin received.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from supplyfeed._sink.memory import MemorySink

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ITEMS = 2  # records per served document


@dataclass
class Origin:
    """One origin: scripted paths, and the raw bytes of every request it received."""

    ssl_context: ssl.SSLContext | None = None
    routes: dict[str, Handler] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    base: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Origin:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    @property
    def received_bytes(self) -> bytes:
        return b"\n".join(self.received)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        line = f"{request.method} {request.raw_path} HTTP/1.1".encode()
        headers = [k + b": " + v for k, v in request.raw_headers]
        self.received.append(b"\r\n".join([line, *headers]))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404)
        return await handler(request)


def document(warehouse: str) -> bytes:
    """A canonical inventory document of ``ITEMS`` records for ``warehouse``."""
    doc: dict[str, Any] = {
        "supplier_id": "S",
        "warehouse_id": warehouse,
        "as_of": "2026-11-28T07:45:00Z",
        "items": [{"sku": f"SKU-{i}", "on_hand": i, "available": i} for i in range(ITEMS)],
    }
    return orjson.dumps(doc)


def serve(warehouse: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=document(warehouse), content_type="application/json")

    return handler


def redirect(location: Callable[[web.Request], str], status: int = 302) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=status, headers={"Location": location(request)})
        response.set_cookie("sid", "cookie-from-the-redirect")
        return response

    return handler


def throwaway_secrets(*names: str) -> dict[str, str]:
    """Fresh secret values for ``${ENV}`` references, made at run time."""
    return {n: f"{n.lower()}-{secrets.token_hex(8)}" for n in names}


async def assert_rows_exactly(sink: MemorySink, warehouses: Iterable[str]) -> None:
    """Nothing lost, nothing duplicated, nothing unexpected: ``ITEMS`` per warehouse."""
    rows = [(r["warehouse_id"], r["sku"]) for r in await sink.table_rows("inventory_positions")]
    expected = {(w, f"SKU-{i}") for w in warehouses for i in range(ITEMS)}
    assert len(rows) == len(set(rows)), "duplicated"
    assert set(rows) == expected
