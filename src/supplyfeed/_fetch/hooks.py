"""Fetch hooks: the narrow seam through which supplier-facing behaviour plugs into the engine.

A hook has two entry points, both optional in effect (:class:`BaseHook` passes through):

- ``admit(request)`` runs before the request takes any concurrency slot. It may wait
  (a rate limiter waiting for a token must not hold a host slot) or raise a
  :class:`~supplyfeed.FetchError` to fail the attempt at once (an open circuit).
- ``release(request)`` runs once the attempt is over, whatever became of it: it gives
  back what ``admit`` reserved and ``send`` did not (a hedge cancelled while it waited
  for a slot never reaches ``send``).
- ``send(request, treq, call_next)`` wraps the transport call while the slot is held, as
  middleware: it may change the outgoing request (auth headers, conditional headers),
  look at the response or the error (breaker, rate-limit headers) or send again (one
  OAuth2 refresh on a 401). It never answers in the transport's place: which transport
  serves a URL is decided below every hook, by its scheme (``mounts.py``).

Hooks run in list order for ``admit`` and nest in list order for ``send`` (the first hook
is outermost). Conditional requests, circuit breakers, rate limits and auth are hooks;
the engine itself stays unaware of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeAlias

from .outcome import FetchRequest

if TYPE_CHECKING:  # aiohttp is imported only by what sends requests
    from .transport import TransportRequest, TransportResponse

__all__ = ["BaseHook", "FetchHook", "Send", "chain"]

Send: TypeAlias = "Callable[[TransportRequest], Awaitable[TransportResponse]]"


class FetchHook(Protocol):
    async def admit(self, request: FetchRequest) -> None: ...

    async def release(self, request: FetchRequest) -> None: ...

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse: ...


class BaseHook:
    """A hook that does nothing; subclasses override what they need."""

    async def admit(self, request: FetchRequest) -> None:
        return None

    async def release(self, request: FetchRequest) -> None:
        return None

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        return await call_next(treq)


def chain(hooks: Sequence[FetchHook], request: FetchRequest, send: Send) -> Send:
    """``send`` wrapped by every hook, the first hook outermost."""
    for hook in reversed(hooks):
        send = partial(hook.send, request, call_next=send)
    return send
