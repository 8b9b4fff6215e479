"""The transport seam: one request in, one response (status, headers, body) out.

Everything network-specific lives behind :class:`Transport`, like httpx's
``handle_async_request``. :class:`AiohttpTransport` is the real one;
:class:`MockTransport` is a fake that ships in the package so that users and our own
tests can drive the engine without a network and without patching internals.

A transport converts every foreign exception once, here, into a
:class:`~supplyfeed.TransientFetchError` or :class:`~supplyfeed.PermanentFetchError`
with a stable ``kind``. It never retries: the engine decides (``retry.py``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from .._exceptions import PermanentFetchError, TransientFetchError
from .._formats.body import Body, SpoolWriter

__all__ = [
    "AiohttpTransport",
    "MockTransport",
    "Transport",
    "TransportRequest",
    "TransportResponse",
    "header_value",
]

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class TransportRequest:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    max_bytes: int = 1024 * 1024 * 1024
    spool_threshold: int = 50 * 1024 * 1024
    spool_dir: Path | None = None
    # Per-request TLS (a supplier's CA bundle, client certificate, or False when the
    # supplier's tls_verify is off); None: the transport's default, which verifies.
    tls: ssl.SSLContext | bool | None = None


@dataclass(slots=True)
class TransportResponse:
    """A response. ``body`` is None for non-2xx answers (their bodies are not kept)."""

    status: int
    headers: Mapping[str, str]
    body: Body | None = None
    reason: str = ""


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A response header by case-insensitive name (transports hand back plain dicts)."""
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


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
        session = self._get_session()
        try:
            async with session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                ssl=_ssl_arg(request.tls, self._ssl),
            ) as resp:
                headers = dict(resp.headers.items())
                if not 200 <= resp.status < 300:
                    resp.release()
                    return TransportResponse(resp.status, headers, None, resp.reason or "")
                body = await _read_body(resp, request)
                return TransportResponse(resp.status, headers, body, resp.reason or "")
        except (PermanentFetchError, TransientFetchError):
            raise
        except aiohttp.ClientPayloadError as exc:
            raise TransientFetchError(f"body truncated: {exc}", kind="truncated") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise TransientFetchError("server disconnected", kind="disconnected") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise PermanentFetchError(f"TLS certificate error: {exc}", kind="tls") from exc
        except aiohttp.ClientSSLError as exc:
            raise PermanentFetchError(f"TLS error: {exc}", kind="tls") from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise TransientFetchError("connect timed out", kind="connect_timeout") from exc
        except aiohttp.SocketTimeoutError as exc:
            raise TransientFetchError("read timed out", kind="read_timeout") from exc
        except aiohttp.ServerTimeoutError as exc:
            raise TransientFetchError(f"timed out: {exc}", kind="read_timeout") from exc
        except aiohttp.InvalidURL as exc:
            raise PermanentFetchError(f"invalid URL: {exc}", kind="invalid_url") from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransientFetchError(f"cannot connect: {exc.os_error}", kind="connect") from exc
        except aiohttp.ClientResponseError as exc:
            raise TransientFetchError(f"bad response: {exc.message}", kind="protocol") from exc
        except (aiohttp.ClientOSError, ConnectionError) as exc:
            raise TransientFetchError(f"connection error: {exc}", kind="connection") from exc
        except aiohttp.ClientError as exc:
            raise TransientFetchError(f"client error: {exc}", kind="connection") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_body(resp: aiohttp.ClientResponse, request: TransportRequest) -> Body:
    """Stream the body in chunks into memory or a spool file, enforcing ``max_bytes``
    on the decompressed size (a decompression bomb fails fast, never exhausts memory)."""
    declared = resp.content_length
    if (
        declared is not None
        and declared > request.max_bytes
        and not resp.headers.get("Content-Encoding")
    ):
        raise PermanentFetchError(
            f"declared size {declared} exceeds max_payload_bytes {request.max_bytes}",
            kind="too_large",
        )
    spool = SpoolWriter(request.spool_threshold, request.spool_dir)
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            spool.write(chunk)
            if spool.size > request.max_bytes:
                raise PermanentFetchError(
                    f"body exceeds max_payload_bytes {request.max_bytes}", kind="too_large"
                )
    except BaseException:
        spool.abort()
        raise
    return spool.finish()


def _ssl_arg(per_request: ssl.SSLContext | bool | None, default: ssl.SSLContext | None) -> Any:
    if per_request is not None:
        return per_request
    return default or True


Handler = Callable[[TransportRequest], Awaitable[TransportResponse]]


class MockTransport:
    """A fake transport that answers with a user-supplied async handler.

    The handler may return a response, or raise ``TransientFetchError`` /
    ``PermanentFetchError`` to simulate network failures. Open responses are tracked so
    that a deliberately leaky handler can be detected (``open_responses``).
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
