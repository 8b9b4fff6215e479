"""The transport seam: one request in, one response (status, headers, body) out.

Everything network-specific lives behind :class:`Transport`, like httpx's
``handle_async_request``. :class:`AiohttpTransport` is the real one;
:class:`MockTransport` is a fake that ships in the package so that users and our own
tests can drive the engine without a network and without patching internals.

A transport converts every foreign exception once, here, into a
:class:`~supplyfeed.TransientFetchError` or :class:`~supplyfeed.PermanentFetchError`
with a stable ``kind``. It never retries: the engine decides (``retry.py``).

:class:`AiohttpTransport` follows redirects itself, each hop checked by the policy in
``redirects.py``, and decodes ``Content-Encoding`` itself under the bomb caps of
``content_encoding.py``. A body past the spool threshold is written to its file from a
thread, so the event loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp

from .._exceptions import FetchError, PermanentFetchError, TransientFetchError
from .._formats.body import Body, SpoolWriter
from .content_encoding import ACCEPT_ENCODING, BoundedDecoder
from .headers import header_value
from .redirects import REDIRECT_STATUSES, RedirectChain
from .tls_defaults import tls_ready

__all__ = [
    "AiohttpTransport",
    "MockTransport",
    "Transport",
    "TransportRequest",
    "TransportResponse",
    "header_value",
]

_CHUNK = 64 * 1024
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class TransportRequest:
    """One request as the transport sends it: URL, headers, limits and TLS."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    max_bytes: int = 1024 * 1024 * 1024
    spool_threshold: int = 50 * 1024 * 1024
    spool_dir: Path | None = None
    # Per-request TLS (a supplier's CA bundle, client certificate, or False when the
    # supplier's tls_verify is off); None: the transport's default, which verifies.
    tls: ssl.SSLContext | bool | None = None
    max_redirects: int = 5
    max_decompression_ratio: float = 100.0
    # Never sent to another origin (redirects.py): lower-case names of headers holding
    # credentials, and the secret values themselves (for query strings and Locations).
    secret_headers: frozenset[str] = frozenset()
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    # Whose request this is: a transport that logs in per supplier (SFTP) picks the
    # supplier's credentials and connection by it.
    supplier_id: str = ""


@dataclass(slots=True)
class TransportResponse:
    """A response. ``body`` is None for non-2xx answers (their bodies are not kept)."""

    status: int
    headers: Mapping[str, str]
    body: Body | None = None
    reason: str = ""
    redirects: tuple[str, ...] = ()  # the URLs redirected to, in order, redacted


class Transport(Protocol):
    async def send(self, request: TransportRequest) -> TransportResponse: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """HTTP(S) over one shared aiohttp session.

    The connector's own limits are set no tighter than the engine's semaphores, so a
    request never waits in aiohttp's pool queue (whose wait counts against
    ``ClientTimeout.total``, aiohttp#10313); the engine bounds the attempt instead.
    ``sock_connect`` and ``sock_read`` bound the connect and the longest gap between reads.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._ssl = ssl_context
        self._trace_configs = trace_configs or []
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # feeds need no cookies; saves ~4%/request
                trace_configs=self._trace_configs,
                raise_for_status=False,
            )
        return self._session

    async def send(self, request: TransportRequest) -> TransportResponse:
        chain = RedirectChain(request)
        hop = request
        while True:
            try:
                response, location = await self._hop(hop)
            except FetchError as exc:
                raise chain.annotate(exc) from exc
            if location is None:
                response.redirects = chain.hops
                return response
            hop = chain.follow(hop, response.status, location)

    async def _hop(self, request: TransportRequest) -> tuple[TransportResponse, str | None]:
        """One request, no redirect followed: the response, or the Location to go to."""
        session = self._get_session()
        headers = dict(request.headers)
        if header_value(headers, "Accept-Encoding") is None:  # only what we can decode
            headers["Accept-Encoding"] = ACCEPT_ENCODING
        await tls_ready(request.url)  # aiohttp's default contexts, when the CLI deferred them
        try:
            return await _exchange(session, request, headers, _ssl_arg(request.tls, self._ssl))
        except (aiohttp.ClientError, ValueError, ConnectionError) as exc:
            raise _fetch_error(exc) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_body(resp: aiohttp.ClientResponse, request: TransportRequest) -> Body:
    """Stream the body in chunks into memory or a spool file, decoding its
    ``Content-Encoding`` under ``max_bytes`` and the decompression ratio (a bomb fails
    fast, never fills memory or the disk). Disk writes run in a thread."""
    encoding = resp.headers.get("Content-Encoding", "")
    declared = resp.content_length
    if declared is not None and declared > request.max_bytes and not encoding:
        raise PermanentFetchError(
            f"declared size {declared} exceeds max_payload_bytes {request.max_bytes}",
            kind="too_large",
        )
    decoder = BoundedDecoder(
        encoding, max_bytes=request.max_bytes, max_ratio=request.max_decompression_ratio
    )
    spool = SpoolWriter(request.spool_threshold, request.spool_dir)
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            for piece in decoder.feed(chunk):
                spool.write(piece)
                if spool.wants_flush:
                    await _off_loop(spool.flush, request)
        decoder.end()
        if spool.on_disk:
            return await _off_loop(spool.finish, request)
        return spool.finish()
    except BaseException:
        spool.abort()
        raise


async def _off_loop(write: Callable[[], _T], request: TransportRequest) -> _T:
    """``write`` (spool file I/O) in a thread; a full disk is a typed failure."""
    future = asyncio.get_running_loop().run_in_executor(None, write)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])  # the write ends before abort() removes its file
        raise
    except OSError as exc:
        where = request.spool_dir or "the temporary directory"
        kind = "spool_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "spool"
        raise TransientFetchError(
            f"cannot write the spool file in {where}: {exc.strerror or exc}", kind=kind
        ) from exc


async def _exchange(
    session: aiohttp.ClientSession,
    request: TransportRequest,
    headers: dict[str, str],
    ssl: Any,
) -> tuple[TransportResponse, str | None]:
    async with session.request(
        request.method,
        request.url,
        headers=headers,
        ssl=ssl,
        allow_redirects=False,
        auto_decompress=False,  # content_encoding.py decodes, under the bomb caps
    ) as resp:
        headers = dict(resp.headers.items())
        reason = resp.reason or ""
        location = resp.headers.get("Location")
        if resp.status in REDIRECT_STATUSES and location:
            resp.release()
            return TransportResponse(resp.status, headers, None, reason), location
        if not 200 <= resp.status < 300:
            resp.release()
            return TransportResponse(resp.status, headers, None, reason), None
        body = await _read_body(resp, request)
        return TransportResponse(resp.status, headers, body, reason), None


# How aiohttp's (and the OS's) errors become ours: the first row whose type matches, in
# this order (subclasses before their bases), gives the class, the kind and the message.
_ErrorRow = tuple[
    type[BaseException] | tuple[type[BaseException], ...],
    type[FetchError],
    str,
    Callable[[Any], str],
]
_CLIENT_ERRORS: tuple[_ErrorRow, ...] = (
    (
        aiohttp.ClientPayloadError,
        TransientFetchError,
        "truncated",
        lambda e: f"body truncated: {e}",
    ),
    (
        aiohttp.ServerDisconnectedError,
        TransientFetchError,
        "disconnected",
        lambda e: "server disconnected",
    ),
    (
        aiohttp.ClientConnectorCertificateError,
        PermanentFetchError,
        "tls",
        lambda e: f"TLS certificate error: {e}",
    ),
    (aiohttp.ClientSSLError, PermanentFetchError, "tls", lambda e: f"TLS error: {e}"),
    (
        aiohttp.ConnectionTimeoutError,
        TransientFetchError,
        "connect_timeout",
        lambda e: "connect timed out",
    ),
    (aiohttp.SocketTimeoutError, TransientFetchError, "read_timeout", lambda e: "read timed out"),
    (aiohttp.ServerTimeoutError, TransientFetchError, "read_timeout", lambda e: f"timed out: {e}"),
    # yarl/aiohttp: a port > 65535 ...
    (
        (aiohttp.InvalidURL, ValueError),
        PermanentFetchError,
        "invalid_url",
        lambda e: f"invalid URL: {e}",
    ),
    (
        aiohttp.ClientConnectorError,
        TransientFetchError,
        "connect",
        lambda e: f"cannot connect: {e.os_error}",
    ),
    (
        aiohttp.ClientResponseError,
        TransientFetchError,
        "protocol",
        lambda e: f"bad response: {e.message}",
    ),
    (
        (aiohttp.ClientOSError, ConnectionError),
        TransientFetchError,
        "connection",
        lambda e: f"connection error: {e}",
    ),
)


def _fetch_error(exc: BaseException) -> FetchError:
    """The typed error for an aiohttp or OS error (see ``_CLIENT_ERRORS``)."""
    for types, error, kind, message in _CLIENT_ERRORS:
        if isinstance(exc, types):
            return error(message(exc), kind=kind)
    return TransientFetchError(f"client error: {exc}", kind="connection")


def _ssl_arg(per_request: ssl.SSLContext | bool | None, default: ssl.SSLContext | None) -> Any:
    if per_request is not None:
        return per_request
    return default or True


Handler = Callable[[TransportRequest], Awaitable[TransportResponse]]


class MockTransport:
    """A fake transport that answers with a user-supplied async handler.

    The handler may return a response, or raise ``TransientFetchError`` /
    ``PermanentFetchError`` to simulate network failures. Every request it was sent is
    kept in ``requests``, in order; ``closed`` says whether it was closed.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[TransportRequest] = []
        self.closed = False

    async def send(self, request: TransportRequest) -> TransportResponse:
        self.requests.append(request)
        await asyncio.sleep(0)
        return await self._handler(request)

    async def aclose(self) -> None:
        self.closed = True
