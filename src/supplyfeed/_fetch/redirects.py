"""The redirect policy: the transport follows redirects itself, and checks every hop.

aiohttp's own redirect handling strips only ``Authorization`` on a cross-origin hop, and
follows https to plain http, ``file://`` and loops as far as its limit. So the transport
sends with ``allow_redirects=False`` and asks :class:`RedirectChain` for each next hop.
There are five cases for a ``Location`` (checked in this order):

1. Not http(s) (``file:``, ``ftp:``...): permanent ``redirect_scheme``.
2. From https to http: permanent ``insecure_redirect`` (credentials would travel in clear).
3. A URL already in the chain: permanent ``redirect_loop``.
4. More hops than ``max_redirects``: permanent ``too_many_redirects``.
5. Another origin (scheme, host, port): followed without any secret. Gone are
   ``Authorization``, ``Proxy-Authorization``, ``Cookie``, the API key header, every header
   whose value came from ``${ENV}`` (``TransportRequest.secret_headers``), every query
   parameter with a secret name or a secret value, and, should a secret value still be in
   the URL, the hop is refused (``insecure_redirect``). Once stripped they stay stripped,
   even if a later hop comes back to the first origin.

Every message names the chain, redacted, and the chain goes into the attempt's history
in the ledger. The request as configured (the endpoint's URL) is never changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from yarl import URL

from .._exceptions import FetchError, PermanentFetchError
from .._redact import is_secret_name, redact_text, redact_url

if TYPE_CHECKING:
    from .transport import TransportRequest

__all__ = ["REDIRECT_STATUSES", "RedirectChain", "with_redirects"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Sent by no configuration of ours to any origin but the configured one.
_ALWAYS_SECRET = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}
)


class RedirectChain:
    """The hops of one request so far; :meth:`follow` gives the next request or raises."""

    def __init__(self, request: TransportRequest) -> None:
        self.first = request
        self.urls: list[str] = [request.url]
        self._secrets = request.secrets | _header_secrets(request)
        self._stripped = False

    @property
    def hops(self) -> tuple[str, ...]:
        """The URLs after the first, redacted (for the ledger)."""
        return tuple(self._redact(u) for u in self.urls[1:])

    def describe(self) -> str:
        return " -> ".join(self._redact(u) for u in self.urls)

    def follow(self, current: TransportRequest, status: int, location: str) -> TransportRequest:
        """The request for the hop ``location`` names, within the policy."""
        here = URL(current.url)
        try:
            target = here.join(URL(location))
        except ValueError as exc:
            raise self._fail("redirect_scheme", f"unusable Location {location!r}") from exc
        url = str(target)
        self.urls.append(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise self._fail("redirect_scheme", f"redirect to a non-http URL ({target.scheme}:)")
        if here.scheme == "https" and target.scheme == "http":
            raise self._fail("insecure_redirect", "redirect from https to plain http")
        if url in self.urls[:-1]:
            raise self._fail("redirect_loop", "redirect loop")
        if len(self.urls) - 1 > self.first.max_redirects:
            raise self._fail(
                "too_many_redirects", f"more than max_redirects {self.first.max_redirects}"
            )
        method = current.method
        if status == 303 or (status in (301, 302) and method == "POST"):
            method = "GET"  # RFC 9110 §15.4: the body is not sent again
        if self._stripped or _origin(target) != _origin(URL(self.first.url)):
            return self._cross_origin(current, target, method)
        return dataclasses.replace(current, url=url, method=method)

    def annotate(self, exc: FetchError) -> FetchError:
        """``exc`` (raised at a later hop) with the chain that led there in its message."""
        return with_redirects(exc, self.describe()) if len(self.urls) > 1 else exc

    def _cross_origin(
        self, current: TransportRequest, target: URL, method: str
    ) -> TransportRequest:
        self._stripped = True
        secrets = self._secrets
        query = [
            (k, v)
            for k, v in target.query.items()
            if not is_secret_name(k) and not _holds(v, secrets)
        ]
        stripped = target.with_query(query)
        url = str(stripped)
        parts = (
            url,
            stripped.path,
            stripped.user or "",
            stripped.password or "",
            stripped.fragment,
        )
        if any(_holds(p, secrets) for p in parts):
            raise self._fail("insecure_redirect", "redirect would carry a secret to another origin")
        headers = {
            k: v
            for k, v in current.headers.items()
            if not _secret_header(k, v, current.secret_headers, secrets)
        }
        self.urls[-1] = url
        return dataclasses.replace(current, url=url, method=method, headers=headers)

    def _fail(self, kind: str, why: str) -> PermanentFetchError:
        return PermanentFetchError(f"{why}: {self.describe()}", kind=kind)

    def _redact(self, url: str) -> str:
        return redact_text(redact_url(url), self._secrets)


def with_redirects(exc: FetchError, chain: str) -> FetchError:
    """The same error, its message naming the redirect chain (kept in the ledger)."""
    return type(exc)(
        f"{exc} (redirected: {chain})",
        kind=exc.kind,
        status=exc.status,
        retry_after=exc.retry_after,
    )


def _origin(url: URL) -> tuple[str, str, int | None]:
    return url.scheme, (url.host or "").lower(), url.port


def _header_secrets(request: TransportRequest) -> frozenset[str]:
    """The values of the secret headers (a token may be echoed into a Location)."""
    values: set[str] = set()
    for name, value in request.headers.items():
        if name.lower() in _ALWAYS_SECRET or name.lower() in request.secret_headers:
            values.update(part for part in value.split() if len(part) >= 4)
    return frozenset(values)


def _secret_header(name: str, value: str, marked: frozenset[str], secrets: Iterable[str]) -> bool:
    lowered = name.lower()
    return (
        lowered in _ALWAYS_SECRET
        or lowered in marked
        or is_secret_name(lowered)
        or _holds(value, secrets)
    )


def _holds(text: str, secrets: Iterable[str]) -> bool:
    return any(s in text for s in secrets if len(s) >= 4)
