"""Event-loop blocking detection (protocol 1 of ``_telemetry``, without a debugger).

A callback re-arms itself every ``interval`` seconds; how late it runs is the loop's
scheduling lag. Lag only shows *that* the loop was blocked, after the fact, so a watchdog
thread also watches the heartbeat: when a tick is overdue by half the threshold, the loop
is still stuck inside whatever blocks it, and the watchdog samples the main thread's
stack (``sys._current_frames``, documented for exactly this) and the current task. When
the late tick finally runs, the lag warning names that culprit.

Cost: twenty callbacks a second on the loop and a thread that wakes every
``threshold / 4``; both are far below a millisecond per second of run.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from .stats import quantile

__all__ = ["LagEvent", "LoopLagMonitor"]

log = logging.getLogger("supplyfeed.loop")

_MAX_EVENTS = 20  # the worst stalls kept for the report; the count covers all of them
_ASYNCIO_DIR = str(Path(asyncio.__file__).parent)
_LOOP_FILES = ("selectors.py", "threading.py")


@dataclass(frozen=True, slots=True)
class LagEvent:
    """One stall: how long the loop was late and what held it, when that could be seen."""

    lag: float
    at: float  # seconds since the monitor started
    culprit: str  # "blocker (tests/x.py:12) in task 'fetch ...'" or "unknown ..."

    def as_dict(self) -> dict[str, Any]:
        return {"lag_seconds": round(self.lag, 4), "at_seconds": round(self.at, 3),
                "culprit": self.culprit}  # fmt: skip


class LoopLagMonitor:
    """Measure scheduling lag of the running loop; warn and name the culprit over
    ``threshold`` seconds. ``on_sample(lag)`` sees every measurement (metrics)."""

    def __init__(
        self,
        threshold: float = 0.1,
        *,
        interval: float = 0.05,
        on_sample: Callable[[float], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.interval = interval
        self._on_sample = on_sample
        self._samples: list[float] = []
        self.events: list[LagEvent] = []
        self.stalls = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._expected = 0.0
        self._t0 = 0.0
        self._main_thread = 0
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._culprit_for = -1.0  # the expected tick time the sampled culprit belongs to
        self._culprit = ""
        self._excused = 0.0

    def excuse(self, seconds: float) -> None:
        """Our own deliberate pause (a tracemalloc snapshot): not the user's stall."""
        self._excused += seconds

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._main_thread = threading.get_ident()
        self._t0 = loop.time()
        self._expected = self._t0 + self.interval
        self._handle = loop.call_at(self._expected, self._tick)
        self._stop.clear()
        self._watchdog = threading.Thread(
            target=self._watch, name="supplyfeed-loop-watchdog", daemon=True
        )
        self._watchdog.start()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None

    # -- on the loop ----------------------------------------------------------------------
    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        lag = max(0.0, now - self._expected - self._excused)
        self._excused = 0.0
        self._samples.append(lag)
        if self._on_sample is not None:
            self._on_sample(lag)
        if lag > self.threshold:
            self._stalled(lag, now)
        self._expected = now + self.interval
        self._handle = self._loop.call_at(self._expected, self._tick)

    def _stalled(self, lag: float, now: float) -> None:
        self.stalls += 1
        culprit = self._culprit if self._culprit_for == self._expected else ""
        culprit = culprit or "unknown (run with --debug for asyncio's slow-callback log)"
        event = LagEvent(lag, now - self._t0, culprit)
        log.warning("event loop blocked for %.3f s by %s", lag, culprit)
        self.events.append(event)
        if len(self.events) > _MAX_EVENTS:
            self.events.sort(key=lambda e: -e.lag)
            del self.events[_MAX_EVENTS:]

    # -- the watchdog thread --------------------------------------------------------------
    def _watch(self) -> None:
        period = max(0.005, self.threshold / 4)
        while not self._stop.wait(period):
            expected = self._expected
            if self._culprit_for == expected:
                continue
            if time.monotonic() - expected > self.threshold / 2:
                self._culprit = self._describe()
                self._culprit_for = expected

    def _describe(self) -> str:
        frame = sys._current_frames().get(self._main_thread)
        where = _innermost_own_frame(frame) if frame is not None else "?"
        task = asyncio.current_task(self._loop) if self._loop is not None else None
        holder = f"task {task.get_name()!r}" if task is not None else "a callback"
        return f"{where} in {holder}"

    # -- results --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        samples = sorted(self._samples)
        return {
            "threshold_seconds": self.threshold,
            "samples": len(samples),
            "max_seconds": round(samples[-1], 4) if samples else 0.0,
            "p99_seconds": round(quantile(samples, 0.99), 4),
            "stalls": self.stalls,
            "worst": [e.as_dict() for e in sorted(self.events, key=lambda e: -e.lag)[:5]],
        }


def _innermost_own_frame(frame: FrameType) -> str:
    """The innermost frame outside asyncio's own machinery, as ``func (file:line)``
    (``time.sleep`` has no Python frame: its caller is what is named)."""
    f: FrameType | None = frame
    while f is not None and _is_machinery(f.f_code.co_filename):
        f = f.f_back
    chosen = f or frame
    return f"{chosen.f_code.co_name} ({_short(chosen.f_code.co_filename)}:{chosen.f_lineno})"


def _is_machinery(filename: str) -> bool:
    return filename.startswith(_ASYNCIO_DIR) or filename.endswith(_LOOP_FILES)


def _short(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else path
