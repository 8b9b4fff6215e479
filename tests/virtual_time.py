"""Virtual time for tests: a clock that moves only when the code under test sleeps on it.

Pass ``clock`` as the clock and ``clock.sleep`` as the sleep of whatever takes them
(``RateLimiter(clock=, sleep=)``, ``AsyncBatchIngestor(sleep=)``, ``TelemetryObserver(clock=)``).
A sleep jumps the clock to its deadline at once and yields to the loop once, like trio's
``MockClock(autojump_threshold=0)``: a test of a 2 s ``Retry-After`` takes no wall time,
and what it asserts is the time the code asked to wait, exactly, on a loaded machine too.
Sleeps that overlap (several tasks) all wake at once; the clock then reads the latest
deadline, never the sum of them.
"""

from __future__ import annotations

import asyncio

__all__ = ["VirtualClock"]


class VirtualClock:
    """``clock()`` reads the time; ``await clock.sleep(s)`` and ``clock.advance(s)`` move it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []  # every sleep asked for, in order

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Time passes without a sleep (work that takes a while, a late retry)."""
        if seconds < 0:
            raise ValueError(f"time does not go back: advance({seconds})")
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        deadline = self.now + max(0.0, seconds)
        await asyncio.sleep(0)  # other tasks run, as during a real sleep
        self.now = max(self.now, deadline)
