"""Rate limits per supplier: a token bucket, and the supplier's own RateLimit headers.

- ``rate_limit_per_second`` and ``rate_limit_burst`` (per supplier, through ``overrides``)
  make a token bucket: a request takes a token before it takes any concurrency slot, so
  waiting for the supplier's budget never holds a host slot or counts against the
  attempt's timeout.
- ``RateLimit-Remaining`` / ``RateLimit-Reset`` (draft-ietf-httpapi-ratelimit-headers),
  the combined ``RateLimit: remaining=0, reset=5`` form and the common
  ``X-RateLimit-*`` headers are honoured: when a response says nothing remains, the
  supplier's requests pause until the reset (capped by ``retry_after_cap``). A reset
  value larger than a year of seconds is read as a Unix time, as GitHub and others send.

The clock and the sleep function are injectable so tests need not wait.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping

from .._config import RateLimit
from .hooks import BaseHook, Send
from .outcome import FetchRequest
from .transport import TransportRequest, TransportResponse

__all__ = ["RateLimiter", "TokenBucket", "pause_from_headers"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_YEAR = 365 * 24 * 3600.0
# Refilling by elapsed * rate can leave a token short by a rounding error (0.05 s at 20/s
# gives 0.9999999999999); waiting that out would be a sleep below the clock's resolution,
# which never ends on a clock that does not move by itself.
_ROUNDING = 1e-9
_FIELD = re.compile(r"(remaining|reset)\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


class TokenBucket:
    """Tokens refill at ``spec.per_second`` up to ``spec.burst`` (0: ``max(1, per_second)``);
    waiters are served in order."""

    def __init__(self, spec: RateLimit, *, clock: Clock, sleep: Sleep) -> None:
        self.rate = spec.per_second
        self.burst = float(spec.burst or max(1, int(spec.per_second)))
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()  # FIFO: asyncio.Lock wakes waiters in arrival order

    def pause_until(self, when: float) -> None:
        self._paused_until = max(self._paused_until, when)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                if self.rate <= 0:
                    return
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1.0 - _ROUNDING:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)


def _get(lowered: Mapping[str, str], *names: str) -> str | None:
    return next((lowered[n] for n in names if n in lowered), None)


def pause_from_headers(headers: Mapping[str, str], now_unix: float) -> float | None:
    """Seconds to pause when the supplier's rate-limit headers say nothing remains."""
    lowered = {k.lower(): v for k, v in headers.items() if "ratelimit" in k.lower()}
    if not lowered:
        return None
    remaining = _get(lowered, "ratelimit-remaining", "x-ratelimit-remaining")
    reset = _get(lowered, "ratelimit-reset", "x-ratelimit-reset")
    combined = _get(lowered, "ratelimit")
    if combined is not None:
        fields = {k.lower(): v for k, v in _FIELD.findall(combined)}
        remaining = fields.get("remaining", remaining)
        reset = fields.get("reset", reset)
    try:
        if remaining is None or float(remaining) > 0 or reset is None:
            return None
        seconds = float(reset)
    except ValueError:
        return None
    if seconds > _YEAR:  # a Unix time, not a delta
        seconds -= now_unix
    return max(0.0, seconds)


class RateLimiter(BaseHook):
    """One :class:`TokenBucket` per supplier (``specs``: each supplier's ``RateLimit``, by
    supplier id); a supplier whose ``honour_headers`` is set also pauses on its headers."""

    def __init__(
        self,
        specs: Mapping[str, RateLimit],
        *,
        pause_cap: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Clock = time.time,
    ) -> None:
        self._specs = dict(specs)
        self._buckets = {
            sid: TokenBucket(spec, clock=clock, sleep=sleep) for sid, spec in specs.items()
        }
        self._pause_cap = pause_cap
        self._clock = clock
        self._wall = wall_clock
        self.pauses = 0  # how often a supplier's headers paused it

    async def admit(self, request: FetchRequest) -> None:
        bucket = self._buckets.get(request.supplier_id)
        if bucket is not None:
            await bucket.acquire()

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        response = await call_next(treq)
        bucket = self._buckets.get(request.supplier_id)
        if bucket is not None and self._specs[request.supplier_id].honour_headers:
            pause = pause_from_headers(response.headers, self._wall())
            if pause is not None and pause > 0:
                self.pauses += 1
                bucket.pause_until(self._clock() + min(pause, self._pause_cap))
        return response
