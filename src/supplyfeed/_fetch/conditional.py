"""Conditional requests: ask a supplier only for what changed since the last load.

For each endpoint we keep the validators of the body last *loaded* from it (``ETag``,
``Last-Modified``) and that body's SHA-256. The next request carries ``If-None-Match`` /
``If-Modified-Since``; a ``304 Not Modified`` then skips download, decoding and writing.
A supplier that ignores validators still saves the decode and the write when the body's
hash equals the last loaded one (the pipeline checks that, see ``_run/unchanged.py``).

Validators are stored only after the body they describe has committed, never at fetch
time: a body that failed to load or was quarantined must be fetched in full next time,
or its data would silently never arrive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .._formats.body import Body
from .headers import header_value
from .hooks import BaseHook, Send
from .outcome import FetchRequest

if TYPE_CHECKING:  # aiohttp is imported only by what sends requests
    from .transport import TransportRequest, TransportResponse

__all__ = [
    "ConditionalHook",
    "ValidatorStore",
    "Validators",
    "conditional_headers",
    "validators_from",
]


@dataclass(frozen=True, slots=True)
class Validators:
    """What we know about the body last loaded from one endpoint."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None


@runtime_checkable
class ValidatorStore(Protocol):
    """Validators per endpoint key, kept across runs (``sf_http_cache`` in SQL sinks).

    A sink that implements these two methods is used as the store directly.
    """

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]: ...

    async def put_validators(self, entries: Mapping[str, Validators]) -> None: ...


def validators_from(headers: Mapping[str, str], sha256: str | None) -> Validators:
    """The validators a response carries, with the hash of its body."""
    etag = header_value(headers, "ETag")
    # A weak ETag is fine for If-None-Match (RFC 9110 §13.1.2 uses weak comparison).
    return Validators(
        etag=etag, last_modified=header_value(headers, "Last-Modified"), sha256=sha256
    )


def conditional_headers(known: Validators) -> dict[str, str]:
    headers: dict[str, str] = {}
    if known.etag:
        headers["If-None-Match"] = known.etag
    if known.last_modified:
        headers["If-Modified-Since"] = known.last_modified
    return headers


def request_key(request: FetchRequest) -> str:
    return request.key or request.url


class ConditionalHook(BaseHook):
    """Adds the conditional headers and turns a solicited 304 into an empty success.

    The engine treats every non-2xx as an error; a 304 answering our own validators is
    the best possible answer, so it goes on as a success with status 304 and no body,
    which the pipeline records as ``unchanged``. An unsolicited 304 stays an error.
    """

    def __init__(self, known: Mapping[str, Validators]) -> None:
        self._known = known

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        known = self._known.get(request_key(request))
        extra = conditional_headers(known) if known is not None else {}
        if not extra:
            return await call_next(treq)
        treq = dataclasses.replace(treq, headers={**treq.headers, **extra})
        response = await call_next(treq)
        if response.status == 304 and response.body is None:
            response.body = Body.from_bytes(b"")
        return response
