"""Adaptive per-host concurrency (opt-in): AIMD within ``[1, limit_per_host]``.

In the spirit of Scrapy's AutoThrottle and TCP congestion control: each host starts at
two requests and, until its first back-off, grows by one per success (slow start: the
window doubles every round trip), so an unknown host is not hit with ``limit_per_host``
requests at once. Then it

- **backs off multiplicatively** (halves) on a 429 or a 503, and by a quarter when its
  smoothed latency rises above ``latency_factor`` times the lowest latency seen (the
  host is queueing our requests);
- **grows additively** by about one request per window of successes (``1 / limit`` per
  success), never above ``limit_per_host``;
- decreases at most once per smoothed round trip, so a burst of 503s from requests that
  were already in flight counts as one signal, not as one halving each.

The gate is taken in ``admit`` (before the engine's host slot), so a request held back
by a shrunken window holds no slot that requests to other hosts need. The fixed
``limit_per_host`` semaphore stays in force as the upper bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._exceptions import FetchError
from .hooks import BaseHook, Send
from .limits import HostKey, host_key
from .outcome import FetchRequest
from .transport import TransportRequest, TransportResponse

__all__ = ["AdaptiveConcurrency", "HostWindow"]

Clock = Callable[[], float]
_BACKOFF_STATUSES = frozenset({429, 503})
_EWMA = 0.2


@dataclass(slots=True)
class HostWindow:
    """The AIMD window of one host."""

    ceiling: int
    latency_factor: float = 2.0
    limit: float = 0.0
    in_flight: int = 0
    base_latency: float | None = None
    smoothed: float | None = None
    last_decrease: float = float("-inf")
    decreases: int = 0
    low_water: float = 0.0  # the smallest window reached, for the report
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self.limit = self.limit or float(min(self.ceiling, 2))
        self.low_water = self.limit

    @property
    def allowed(self) -> int:
        return max(1, min(self.ceiling, int(self.limit)))

    def on_result(self, *, status: int | None, latency: float, now: float) -> None:
        """Update the window with one attempt's status (None: no answer) and latency."""
        if status in _BACKOFF_STATUSES:
            self._decrease(0.5, now)
            return
        if status is None or status >= 500:
            return  # connection problems are the breaker's business, not a load signal
        self.smoothed = (
            latency if self.smoothed is None else ((1 - _EWMA) * self.smoothed + _EWMA * latency)
        )
        self.base_latency = (
            latency if self.base_latency is None else min(self.base_latency, latency)
        )
        if self.smoothed > self.latency_factor * self.base_latency:
            self._decrease(0.75, now)
        else:
            step = 1.0 if self.decreases == 0 else 1.0 / self.limit  # slow start, then AIMD
            self.limit = min(float(self.ceiling), self.limit + step)

    def _decrease(self, factor: float, now: float) -> None:
        if now - self.last_decrease < (self.smoothed or 0.0):
            return  # still answering requests sent before the last decrease
        self.limit = max(1.0, self.limit * factor)
        self.last_decrease = now
        self.decreases += 1
        self.low_water = min(self.low_water, self.limit)


class AdaptiveConcurrency(BaseHook):
    """AIMD windows for the hosts of the suppliers that opted in.

    ``specs`` maps a supplier id to its ``(limit_per_host, latency_factor)``; a host's
    window takes the settings of the first supplier that reaches it.
    """

    def __init__(
        self, specs: Mapping[str, tuple[int, float]], *, clock: Clock = time.monotonic
    ) -> None:
        self._specs = dict(specs)
        self._clock = clock
        self.windows: dict[HostKey, HostWindow] = {}
        self._holding: dict[int, HostWindow] = {}  # admitted requests, by id, until done

    def _window(self, request: FetchRequest) -> HostWindow | None:
        spec = self._specs.get(request.supplier_id)
        if spec is None:
            return None
        key = host_key(request.url)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = HostWindow(*spec)
        return window

    async def admit(self, request: FetchRequest) -> None:
        window = self._window(request)
        if window is None:
            return
        async with window.changed:
            await window.changed.wait_for(lambda: window.in_flight < window.allowed)
            window.in_flight += 1
            self._holding[id(request)] = window

    async def release(self, request: FetchRequest) -> None:
        """An admitted request that never reached ``send`` (cancelled while it waited
        for a slot) gives its place back."""
        window = self._holding.pop(id(request), None)
        if window is not None:
            await _leave(window)

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        window = self._holding.pop(id(request), None)
        if window is None:
            return await call_next(treq)
        t0 = self._clock()
        status: int | None = None
        try:
            response = await call_next(treq)
            status = response.status
            return response
        except FetchError as exc:
            status = exc.status
            raise
        finally:
            window.on_result(status=status, latency=self._clock() - t0, now=self._clock())
            await _leave(window)


async def _leave(window: HostWindow) -> None:
    async with window.changed:
        window.in_flight -= 1
        window.changed.notify_all()
