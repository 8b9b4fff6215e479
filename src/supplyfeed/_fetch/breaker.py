"""A circuit breaker per host: a supplier host that is down costs one cool-down, not
every one of its endpoints timing out ``retry_attempts`` times.

States per host ``(scheme, host, port)``, as in Nygard's *Release It!*:

- **closed**: requests flow; each connection failure, timeout or 5xx adds to a count of
  consecutive failures, any other answer resets it;
- **open**: after ``threshold`` consecutive failures. For ``cooldown`` seconds every
  request to the host fails at once, before taking a slot, as ``circuit_open``: a
  transient failure that the engine does not retry within the run (that would only wait
  for the same open circuit) and that ``resume`` picks up;
- **half-open**: after the cool-down one request goes through as a probe while the others
  keep failing fast; its success closes the circuit, its failure opens it again.

429 is not a failure here (the host is up and asking us to slow down; the rate limiter
handles it), nor is any other 4xx. Other hosts are never affected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from .._exceptions import CircuitOpenError, FetchError
from .hedging import is_hedge_loss
from .hooks import BaseHook, Send
from .limits import HostKey, host_key
from .outcome import FetchRequest
from .transport import TransportRequest, TransportResponse

__all__ = ["CircuitBreaker"]

# Transport error kinds that say "the host is not answering" (not "the request was bad").
_HOST_DOWN_KINDS = frozenset(
    {"connect", "connect_timeout", "connection", "disconnected", "read_timeout", "timeout"}
)


def _open_error(host: HostKey, retry_in: float) -> CircuitOpenError:
    scheme, name, port = host
    return CircuitOpenError(
        f"circuit open for {scheme}://{name}:{port} (next probe in {retry_in:.1f}s)"
    )


@dataclass(slots=True)
class _Circuit:
    """One host's circuit: consecutive failures, and whether and since when it is open."""

    failures: int = 0
    opened_at: float | None = None
    probe: FetchRequest | None = None  # the request let through after the cool-down
    opened: int = 0  # times this circuit opened, for the report


class CircuitBreaker(BaseHook):
    def __init__(
        self, threshold: int, cooldown: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._circuits: dict[HostKey, _Circuit] = {}

    def state(self, url: str) -> str:
        c = self._circuits.get(host_key(url))
        if c is None or c.opened_at is None:
            return "closed"
        return "half_open" if c.probe is not None else "open"

    @property
    def opened(self) -> dict[HostKey, int]:
        """How many times each host's circuit opened."""
        return {h: c.opened for h, c in self._circuits.items() if c.opened}

    async def admit(self, request: FetchRequest) -> None:
        self._check(host_key(request.url), request)

    def _check(self, host: HostKey, request: FetchRequest) -> None:
        c = self._circuits.get(host)
        if c is None or c.opened_at is None:
            return
        waited = self._clock() - c.opened_at
        if waited < self.cooldown or (c.probe is not None and c.probe is not request):
            raise _open_error(host, max(0.0, self.cooldown - waited))
        c.probe = request  # half-open: this one request tests the host

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        host = host_key(request.url)
        # Checked again on the wire: the circuit may have opened while this request
        # waited for a slot behind the very requests that found the host down.
        self._check(host, request)
        try:
            response = await call_next(treq)
        except FetchError as exc:
            self._settle(host, request, failed=exc.kind in _HOST_DOWN_KINDS)
            raise
        except asyncio.CancelledError as exc:  # the per-attempt timeout, or a shutdown
            if is_hedge_loss(exc):  # the other copy answered: the host did nothing wrong
                self._abandon(host, request)
            else:
                self._settle(host, request, failed=True)
            raise
        self._settle(host, request, failed=response.status >= 500)
        return response

    def _abandon(self, host: HostKey, request: FetchRequest) -> None:
        c = self._circuits.get(host)
        if c is not None and c.probe is request:
            c.probe = None  # the next request probes instead

    def _settle(self, host: HostKey, request: FetchRequest, *, failed: bool) -> None:
        c = self._circuits.setdefault(host, _Circuit())
        was_probe = c.probe is request
        if was_probe:
            c.probe = None
        if not failed:
            c.failures = 0
            c.opened_at = None
            return
        c.failures += 1
        if was_probe or (c.opened_at is None and c.failures >= self.threshold):
            c.opened_at = self._clock()
            c.opened += 1
