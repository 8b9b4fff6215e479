"""An event loop on virtual time, for tests of timing rules (hedge delays, timeouts).

Like trio's ``MockClock(autojump_threshold=0)``: ``loop.time()`` is a virtual clock that
starts at 0 and, whenever every task is waiting on a timer, jumps straight to the next
timer. ``asyncio.sleep``, ``asyncio.wait(timeout=)`` and ``asyncio.timeout`` all run on
it, so a test of a 5 s timeout takes no real time and no wall clock decides anything.
Only for in-memory transports: a loop that is waiting on a real socket would jump past it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class _AutojumpSelector(selectors.DefaultSelector):
    """Never blocks: a wait of ``timeout`` seconds advances the loop's virtual clock."""

    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:  # no timer at all: only another thread could wake the loop
            events = super().select(1.0)
            if not events:
                raise RuntimeError("virtual time: every task waits and no timer is set")
            return events
        self.loop.advance(timeout)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _AutojumpSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = 0.0

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def run_virtual(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
