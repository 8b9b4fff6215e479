"""A transport that routes each request by its URL's scheme, like httpx's ``mounts``.

``MountedTransport(default, {"file": drops, "sftp": drops})`` sends ``file://`` and
``sftp://`` URLs to the drop transport (``drops.py``) and ``http``/``https`` URLs to
``default``. Every hook of the engine wraps the call as it wraps any other (``hooks.py``):
the routing happens below them, so a drop file goes through the same breaker, rate
limits, auth and request ids as an HTTP endpoint, and hedging stays off for it
(``hedging.py`` hedges http(s) only).

A URL whose scheme nothing serves fails as a permanent ``invalid_url`` naming the scheme
and the ones served: a failure of that endpoint, never of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .._exceptions import PermanentFetchError
from .transport import Transport, TransportRequest, TransportResponse

__all__ = ["HTTP_SCHEMES", "MountedTransport", "scheme_of"]

HTTP_SCHEMES = frozenset({"http", "https"})


def scheme_of(url: str) -> str:
    """The scheme of ``url``, lower-case (``""`` when it has none)."""
    scheme, colon, _ = url.partition(":")
    return scheme.lower() if colon else ""


class MountedTransport:
    """``default`` for ``default_schemes``; each mounted scheme's own transport for it.

    One transport may be mounted under several schemes; :meth:`aclose` closes each
    transport once, and closing again does nothing.
    """

    def __init__(
        self,
        default: Transport,
        mounts: Mapping[str, Transport],
        *,
        default_schemes: Iterable[str] = HTTP_SCHEMES,
    ) -> None:
        self._default = default
        self._routes: dict[str, Transport] = dict.fromkeys(
            (s.lower() for s in default_schemes), default
        )
        self._routes.update((s.lower(), t) for s, t in mounts.items())
        self._closed = False

    @property
    def schemes(self) -> list[str]:
        """The schemes served, sorted."""
        return sorted(self._routes)

    def transport_for(self, url: str) -> Transport:
        """The transport that serves ``url``; a :class:`PermanentFetchError` if none does."""
        scheme = scheme_of(url)
        transport = self._routes.get(scheme)
        if transport is None:
            what = f"{scheme}:// URLs" if scheme else "a URL without a scheme"
            raise PermanentFetchError(
                f"no transport for {what} (this run reads {', '.join(self.schemes)})",
                kind="invalid_url",
            )
        return transport

    async def send(self, request: TransportRequest) -> TransportResponse:
        return await self.transport_for(request.url).send(request)

    async def aclose(self) -> None:
        """Close the default and every mounted transport, each once."""
        if self._closed:
            return
        self._closed = True
        unique = {id(t): t for t in (self._default, *self._routes.values())}
        for transport in unique.values():
            await transport.aclose()
