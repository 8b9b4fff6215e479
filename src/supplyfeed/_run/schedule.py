"""``supplyfeed run FEEDS --every 15m``: run, sleep until the next slot, run again.

Slots are aligned to the interval on the UTC clock (``15m``: :00, :15, :30, :45), so a
restarted poller keeps the same times. A run is never overlapped: one that outlasts the
interval makes the poller skip the slots that passed while it ran, and say so. A stop
(SIGTERM, Ctrl-C) between runs ends the wait at once; during a run it stops that run as
a single run stops (in-flight writes finish), and the poller ends after it.

Time comes from an injected clock and sleep, so the schedule is tested without waiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from .._exceptions import ConfigError

__all__ = ["MIN_INTERVAL", "Poller", "Slots", "parse_interval"]

MIN_INTERVAL: Final = 1.0  # seconds; a run is never overlapped, so short ones are only busy
_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_interval(text: str) -> float:
    """``30s``, ``15m``, ``1h``, ``1h30m``, ``1d`` -> seconds (at least :data:`MIN_INTERVAL`)."""
    value = text.strip().lower()
    parts = _PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"--every takes a duration such as 30s, 15m, 1h or 1h30m, not {text!r}")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < MIN_INTERVAL:
        raise ConfigError(f"--every must be at least {MIN_INTERVAL:g}s, not {text!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Slots:
    """Instants ``k * interval`` seconds after the epoch (UTC)."""

    interval: float

    def next_from(self, t: float) -> float:
        """The first slot at or after ``t``."""
        return math.ceil(t / self.interval) * self.interval

    def passed(self, started: float, ended: float) -> int:
        """Slots strictly between ``started`` and ``ended``: missed by a run that long."""
        if ended <= started:
            return 0
        first = math.floor(started / self.interval) + 1
        last = math.ceil(ended / self.interval) - 1
        return max(0, last - first + 1)


RunOnce = Callable[[], Awaitable[int]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Say = Callable[[str], None]


class Poller:
    """Calls ``run_once`` at each slot until :meth:`stop`; returns the last run's status."""

    def __init__(
        self,
        interval: float,
        run_once: RunOnce,
        *,
        say: Say,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.slots = Slots(interval)
        self._run_once = run_once
        self._say = say
        self._clock = clock
        self._sleep = sleep
        self._stop = asyncio.Event()
        self.runs = 0

    def stop(self) -> None:
        """End the poller: at once between runs, after the run that is going on otherwise."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> int:
        status = 0
        while not self.stopping:
            started = self._clock()
            status = await self._run_once()
            self.runs += 1
            if self.stopping:
                break
            ended = self._clock()
            slot = self.slots.next_from(ended)
            self._say(self._plan(started, ended, slot))
            await self._wait_until(slot)
        self._say(f"every: stopped after {self.runs} run(s)")
        return status

    def _plan(self, started: float, ended: float, slot: float) -> str:
        missed = self.slots.passed(started, ended)
        took = f"run took {_span(ended - started)}"
        if missed:
            return (
                f"every: {took}, past {missed} slot(s) of {_span(self.slots.interval)}: "
                f"skipped them (runs never overlap); next run at {_utc(slot)}"
            )
        return f"every: {took}; next run at {_utc(slot)}"

    async def _wait_until(self, slot: float) -> None:
        """Sleep until ``slot`` by the clock (a sleep that wakes early sleeps again), or
        until :meth:`stop`."""
        while not self.stopping and (left := slot - self._clock()) > 0:
            async with asyncio.TaskGroup() as group:
                nap = group.create_task(self._nap(left))
                stopped = group.create_task(self._stop.wait())
                await asyncio.wait((nap, stopped), return_when=asyncio.FIRST_COMPLETED)
                nap.cancel()
                stopped.cancel()

    async def _nap(self, seconds: float) -> None:
        await self._sleep(seconds)


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
