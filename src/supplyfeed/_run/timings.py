"""``run --timings``: where a run's process time goes, phase by phase.

- **start**: from the process's birth (the interpreter, the imports, reading the feeds
  file, opening the sink) to the run's first step;
- **plan**: drop folders listed, endpoints planned, the run and its ledger rows recorded;
- **fetch**: until the last endpoint is fetched;
- **drain**: until the last payload fetched is decoded and committed;
- **checks**: the run's end: its summary, the rule checks and reconcile's kept positions
  (``findings_store``, ``reconcile_json``), the WAL checkpoint and the run's ledger row;
- **report**: closing the sink and printing the result, until the process leaves.

``start`` and ``report`` are what the process costs outside the run itself: issue 17's
budget for them is 0.3 s on 2,000 endpoints (``python -m bench fetch``).

The phases are consecutive, so they add up to the process's wall time so far.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

__all__ = ["PHASES", "PhaseTimer", "process_started"]

PHASES = ("start", "plan", "fetch", "drain", "checks", "report")
Clock = Callable[[], float]


def process_started(clock: Clock = time.time) -> float:
    """The time this process began, from the OS (so the interpreter's own start-up and
    the imports count), as a reading of ``clock``. Linux: ``/proc`` to the clock tick;
    elsewhere psutil (whose boot time is whole seconds)."""
    age = _age_from_proc()
    if age is None:
        import psutil  # here: only --timings pays for it

        age = time.time() - psutil.Process().create_time()
    return clock() - age


def _age_from_proc() -> float | None:
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError):
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": field 3 onwards
    start_ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


class PhaseTimer:
    """Marks the end of each phase; :meth:`lines` reports their durations."""

    def __init__(self, started: float, clock: Clock = time.time) -> None:
        self._clock = clock
        self._last = started
        self.seconds: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        """``phase`` ends now (a phase marked twice adds up: resume, paged feeds)."""
        now = self._clock()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + (now - self._last)
        self._last = now

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def lines(self) -> list[str]:
        total = self.total or 1.0
        out = [f"{'phase':<8} {'seconds':>8} {'share':>6}"]
        for phase in [*PHASES, *(p for p in self.seconds if p not in PHASES)]:
            if phase in self.seconds:
                s = self.seconds[phase]
                out.append(f"{phase:<8} {s:>8.3f} {s / total:>6.1%}")
        out.append(f"{'total':<8} {self.total:>8.3f}")
        return out

    def print(self, stream: TextIO | None = None) -> None:
        print("\n".join(self.lines()), file=stream or sys.stderr)
