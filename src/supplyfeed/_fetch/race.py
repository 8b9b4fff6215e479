"""The two requests of a hedged attempt: the first answer wins, the other is cancelled
(its connection released by the transport), and both go into the ledger.

The first request runs in the request's own task, as an attempt without a hedge does
(its slot accounting and log context stay where they were). A :class:`HedgeScope`
starts the hedge in a task of its own once the first request has been on the wire for
the hedge delay; when the hedge answers first it interrupts the first request the way
``asyncio.timeout`` interrupts an attempt: by cancelling the request's task and
absorbing that cancellation. *Whether* and *when* to hedge is ``hedging.py``'s business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._exceptions import FetchError, PermanentFetchError
from .hedging import HEDGE_LOST
from .outcome import AttemptRecord, FetchRequest

__all__ = ["HedgeScope", "Leg", "Stopped", "answered", "leg_record", "never_ran", "settle"]


class Stopped(Exception):
    """``stop()`` was called while the request waited for a slot: it was never sent."""


@dataclass(slots=True)
class Leg:
    """One request of an attempt: the first (``hedge`` False) or its hedge."""

    request: FetchRequest
    hedge: bool
    created: float
    wire_at: float | None = None  # when it held its slots
    ended_at: float | None = None  # when the transport returned or raised
    outcome: Any = None  # a TransportResult, or the FetchError / Stopped it ended with
    lost: bool = False  # cancelled: the other request answered first
    first: Leg | None = None  # of a hedge: the request it hedges
    on_wire: Callable[[], None] | None = None
    task: asyncio.Task[None] | None = None  # of a hedge: the task it runs in

    def put_on_wire(self, now: float) -> None:
        self.wire_at = now
        if self.on_wire is not None:
            self.on_wire()

    def check_still_needed(self) -> None:
        """A hedge that got its slot only as the request it hedges ended goes no further
        (that request's retry, with its backoff, takes over)."""
        if self.first is not None and self.first.ended_at is not None:
            raise asyncio.CancelledError(HEDGE_LOST)

    @property
    def elapsed(self) -> float:
        if self.wire_at is None or self.ended_at is None:
            return 0.0
        return self.ended_at - self.wire_at

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


def answered(leg: Leg) -> bool:
    """Whether the leg ended with an answer that settles the attempt: a response (any
    status) or a permanent error, not a lost connection the other copy may outlive."""
    exc = leg.outcome
    if leg.lost or exc is None:
        return False
    if not isinstance(exc, BaseException):
        return True
    return isinstance(exc, FetchError) and (
        exc.status is not None or isinstance(exc, PermanentFetchError)
    )


class HedgeScope:
    """Starts a hedge ``delay`` seconds after ``first`` went on the wire (``launch``
    returns it, or None when the budget or a stop says no) and, when the hedge answers
    while ``first`` is still on the wire, interrupts ``first``."""

    def __init__(self, first: Leg, delay: float, launch: Callable[[], Leg | None]) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "a hedged attempt runs in a task"
        self._task = task
        self._first = first
        self._delay = delay
        self._launch = launch
        self._timer: asyncio.TimerHandle | None = None
        self._interrupted = False
        self.hedge: Leg | None = None
        first.on_wire = self._arm

    def _arm(self) -> None:
        self._timer = self._loop.call_later(self._delay, self._fire)

    def _fire(self) -> None:
        if self._first.ended_at is not None:
            return
        self.hedge = self._launch()
        if self.hedge is not None and self.hedge.task is not None:
            self.hedge.task.add_done_callback(self._hedge_done)

    def _hedge_done(self, _task: asyncio.Task[None]) -> None:
        if self.hedge is not None and answered(self.hedge) and self._first.ended_at is None:
            self._interrupted = True
            self._task.cancel(HEDGE_LOST)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def took_over(self) -> bool:
        """Called on a cancellation of the first request: whether it is this scope's
        (the hedge answered), and then absorbed; False for any other (a shutdown)."""
        return self._interrupted and self._task.uncancel() == 0


async def settle(first: Leg, hedge: Leg | None) -> Leg:
    """The leg whose outcome the attempt takes, once ``first`` has ended: the first to
    answer. A first request that failed without an answer waits for a hedge already on
    the wire; a hedge not sent yet is dropped (the engine's retry takes over)."""
    if hedge is None:
        return first
    if first.lost:
        return hedge
    if not answered(first) and hedge.wire_at is not None and hedge.running:
        assert hedge.task is not None
        await asyncio.wait({hedge.task})
        if answered(hedge) or _failed_later(hedge, first):
            return hedge
    return first


def never_ran(leg: Leg) -> bool:
    """A hedge whose task was cancelled before its first step (the request it hedges
    ended in the same turn of the loop that made it): it sent nothing and has no
    outcome, so the ledger does not show it."""
    return leg.outcome is None and not leg.lost


def _failed_later(hedge: Leg, first: Leg) -> bool:
    return isinstance(hedge.outcome, FetchError) and (hedge.ended_at or 0.0) > (
        first.ended_at or 0.0
    )


async def drop(leg: Leg | None, winner: Leg) -> None:
    """Cancel ``leg`` unless it won, wait until it is gone, and discard a body it
    received anyway (both answered at once)."""
    if leg is None or leg is winner:
        return
    if leg.running:
        assert leg.task is not None
        leg.task.cancel(HEDGE_LOST)
        await asyncio.wait({leg.task})
    body = getattr(leg.outcome, "body", None)
    if body is not None and not isinstance(leg.outcome, BaseException):
        body.discard()


def leg_record(leg: Leg, attempt: int, t0: float, *, hedged: bool, won: bool) -> AttemptRecord:
    """The ledger's record of one leg; ``t0`` is when the request (all attempts) began."""
    flags: dict[str, Any] = {"hedge": leg.hedge, "won": won} if hedged else {}
    start = (leg.wire_at if leg.wire_at is not None else leg.created) - t0
    exc = leg.outcome
    if leg.lost:
        return AttemptRecord(attempt, "lost", None, leg.elapsed, start=start, **flags)
    if isinstance(exc, FetchError):
        return AttemptRecord(attempt, exc.kind, exc.status, exc.elapsed, start=start, **flags)
    return AttemptRecord(
        attempt,
        "ok",
        exc.status,
        exc.elapsed,
        redirects=exc.redirects,
        start=start,
        **flags,
    )
