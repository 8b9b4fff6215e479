"""Hedged requests: when an attempt has not answered within a hedge delay, send one more.

After "The Tail at Scale" (Dean & Barroso, 2013), gRPC's hedging policy and Finagle's
backup requests. The engine (``engine.py``) races the two requests of one attempt; this
module decides *whether* and *when* to hedge:

- **delay**: a supplier's ``hedge_after`` when set; else ``3 x`` the host's p95 latency
  (over its last answers), at least ``FLOOR``. A host with too few answers yet borrows
  the p95 of every host; with none at all the delay is ``COLD_DELAY``. A delay that is
  not shorter than the attempt's timeout means no hedge.
- **budget**: per host, hedges stay within ``hedge_budget`` (default 5%) of the
  requests sent to it so far, plus a reserve of ``RESERVE`` hedges, so the first slow
  answers of a fresh host can be hedged but a slow host is never hit twice as hard.
- **off**: for anything but http(s) (file:// and sftp:// drops are never requested
  twice), for a supplier with ``hedge: false`` and for a feed marked ``hedge: false``.

Hedges take the same slots, rate-limit tokens and breaker checks as any request, and
never count as a retry attempt.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._config import Hedge
from .limits import HostKey, host_key
from .outcome import FetchRequest

__all__ = [
    "COLD_DELAY",
    "FLOOR",
    "HEDGE_LOST",
    "RESERVE",
    "Hedging",
    "LatencyWindow",
    "is_hedge_loss",
]

FLOOR = 0.05  # seconds: never hedge sooner, whatever the host's latency
FACTOR = 3.0  # times the host's p95
COLD_DELAY = 1.0  # seconds, before any host has answered MIN_SAMPLES times
MIN_SAMPLES = 8
WINDOW = 256  # latencies kept per host
RESERVE = 2.0  # hedges a host may have beyond its budget share
HEDGE_LOST = "supplyfeed: the hedged request's other copy answered first"
_SCHEMES = frozenset({"http", "https"})

Clock = Callable[[], float]


def is_hedge_loss(exc: BaseException) -> bool:
    """Whether a cancellation is the engine dropping the slower copy of a hedged attempt
    (not a timeout or a shutdown): the host did nothing wrong."""
    return bool(exc.args) and exc.args[0] == HEDGE_LOST


class LatencyWindow:
    """The last ``WINDOW`` answer latencies of one host, and their p95."""

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=WINDOW)
        self._p95: float | None = None
        self._stale = 0

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._stale += 1

    def p95(self) -> float | None:
        """The 95th percentile (nearest rank), recomputed every few samples."""
        if not self._samples:
            return None
        if self._p95 is None or self._stale >= 8:
            ordered = sorted(self._samples)
            self._p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            self._stale = 0
        return self._p95


@dataclass(slots=True)
class _Host:
    """One host's latency window and its requests, hedges and hedge wins."""

    latency: LatencyWindow = field(default_factory=LatencyWindow)
    requests: int = 0
    hedges: int = 0
    wins: int = 0


class Hedging:
    """Delays, budgets and counts of hedged requests, per host.

    ``rules`` maps a supplier id to its settings (``FeedConfig.hedge``, a
    :class:`~supplyfeed._config.Hedge`); others take ``default``.
    """

    def __init__(
        self,
        default: Hedge | None = None,
        rules: Mapping[str, Hedge] | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.default = default or Hedge()
        self._rules = dict(rules or {})
        self.clock = clock
        self._hosts: dict[HostKey, _Host] = {}
        self._all = LatencyWindow()

    def _host(self, url: str) -> _Host:
        key = host_key(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host()
        return host

    def rule(self, request: FetchRequest) -> Hedge:
        return self._rules.get(request.supplier_id, self.default)

    def delay(self, request: FetchRequest, timeout: float) -> float | None:
        """Seconds after which ``request`` gets a hedge, or None: never hedged."""
        rule = self.rule(request)
        if not (rule.enabled and request.hedge and rule.budget > 0):
            return None
        if request.url.partition(":")[0].lower() not in _SCHEMES:
            return None
        wait = rule.after or self.latency_delay(request.url)
        return wait if wait < timeout else None

    def latency_delay(self, url: str) -> float:
        """``FACTOR x`` p95 of the host (or of every host while it has few answers)."""
        own = self._host(url).latency
        window = own if len(own) >= MIN_SAMPLES else self._all
        p95 = window.p95() if len(window) >= MIN_SAMPLES else None
        return COLD_DELAY if p95 is None else max(FLOOR, FACTOR * p95)

    def sent(self, request: FetchRequest) -> None:
        """A first (not hedge) request went on the wire: it adds to the host's budget."""
        self._host(request.url).requests += 1

    def answered(self, request: FetchRequest, seconds: float) -> None:
        """A request to the host was answered (any status) after ``seconds`` on the wire."""
        self._host(request.url).latency.add(seconds)
        self._all.add(seconds)

    def spend(self, request: FetchRequest) -> bool:
        """Take one hedge from the host's budget; False when it is used up."""
        host = self._host(request.url)
        allowed = self.rule(request).budget * host.requests + RESERVE
        if host.hedges + 1 > allowed:
            return False
        host.hedges += 1
        return True

    def won(self, request: FetchRequest) -> None:
        """The hedge answered first."""
        self._host(request.url).wins += 1

    @property
    def hedges(self) -> int:
        return sum(h.hedges for h in self._hosts.values())

    @property
    def wins(self) -> int:
        return sum(h.wins for h in self._hosts.values())

    @property
    def requests(self) -> int:
        return sum(h.requests for h in self._hosts.values())
