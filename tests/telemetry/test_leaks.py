"""Protocol 3: a transport that leaves responses open is caught by the end-of-run check."""

from __future__ import annotations

import aiohttp

from supplyfeed._fetch.transport import AiohttpTransport, TransportRequest, TransportResponse
from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry import Telemetry
from supplyfeed.sim import SupplierFleet

from .helpers import feeds_for, findings, fleet_spec, run


class LeakyTransport:
    """Deliberately broken: besides a correct fetch, it opens a second request per URL
    and never reads, releases or closes it (the guide's missing ``async with``)."""

    def __init__(self) -> None:
        self._inner = AiohttpTransport()
        self._session: aiohttp.ClientSession | None = None
        self.leaked: list[aiohttp.ClientResponse] = []

    async def send(self, request: TransportRequest) -> TransportResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.leaked.append(await self._session.get(request.url))  # never released
        return await self._inner.send(request)

    async def aclose(self) -> None:
        await self._inner.aclose()  # ... and forgets self._session

    async def really_close(self) -> None:
        for response in self.leaked:
            response.close()
        if self._session is not None:
            await self._session.close()


async def test_a_leaked_response_is_reported_as_an_error() -> None:
    """Open sockets and extra file descriptors at the end: an error finding."""
    transport = LeakyTransport()
    try:
        async with SupplierFleet(fleet_spec(4)) as fleet, MemorySink() as sink:
            feeds = feeds_for(fleet, "memory://")
            server = f"127.0.0.1:{fleet.ports[0]}"
            telemetry = Telemetry()
            telemetry.leaks._grace = 0.3  # the leak is permanent: no need to wait long
            summary = await run(feeds, sink, telemetry, transport=transport)
            await transport.aclose()
    finally:
        await transport.really_close()

    leaks = summary.report["leaks"]
    assert leaks["leaked"] is True
    assert leaks["fds_end"] > leaks["fds_start"]
    assert any(server in c for c in leaks["open_connections"])
    errors = [f for f in findings(summary, "leak") if f["severity"] == "error"]
    assert any("TCP connection(s) still open" in f["message"] for f in errors)


async def test_a_clean_run_reports_no_leak() -> None:
    """The real transport closes everything: fds back to the starting count."""
    async with SupplierFleet(fleet_spec(4)) as fleet, MemorySink() as sink:
        summary = await run(feeds_for(fleet, "memory://"), sink, Telemetry())
    leaks = summary.report["leaks"]
    assert leaks["leaked"] is False
    assert leaks["fds_end"] <= leaks["fds_start"]
    assert findings(summary, "leak") == []
