"""Named crash points for the reliability tests (in the spirit of FoundationDB's and
TiKV's failpoints).

``SUPPLYFEED_FAILPOINTS="after_fetch=3,after_commit=1"`` makes the process SIGKILL itself
the 3rd time it passes ``after_fetch``, or the 1st time it passes ``after_commit``. Only
the CLI reads that variable, and passes it to :func:`arm`; the SQLite worker process is
armed by its parent (:func:`armed_spec`).
``fetch=raise:2`` instead raises :class:`FailpointError` (a stand-in for a bug) the 2nd
time it passes ``fetch``, and ``run_modules=sigterm:1`` sends the process a SIGTERM (an
operator's stop at that exact moment); a point fires once. Unset (always, in production),
:func:`failpoint` is one dict lookup on an empty dict.

Points: ``fetch`` (an endpoint's fetch starts), ``after_fetch`` (a body is fetched,
nothing written: the hand-off to the writer), ``decode`` (a payload's decoding
starts, in the sink's worker), ``mid_batch`` (inside the sink's
transaction, some units written, nothing committed), ``mid_shared_batch`` (the same, hit
only in a transaction that holds two or more units, so a test of a batch's rollback does
not depend on how the writer happened to group the payloads), ``after_commit`` (a transaction
committed, nothing else done yet).
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "FailpointError", "arm", "armed_spec", "failpoint"]

ENV = "SUPPLYFEED_FAILPOINTS"


class FailpointError(RuntimeError):
    """Raised by an armed ``name=raise:N`` point: an unexpected error, as a bug would be."""


_ACTIONS = ("raise", "sigterm")  # else SIGKILL


def _parse(spec: str) -> dict[str, tuple[str, int]]:
    points: dict[str, tuple[str, int]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, count = item.partition("=")
        action, _, times = count.rpartition(":")
        if action and action not in _ACTIONS:
            raise ValueError(f"failpoint {name}: unknown action {action!r}")
        points[name] = (action or "kill", int(times or "1"))
    return points


_armed: dict[str, tuple[str, int]] = {}
_spec = ""  # as armed, for worker processes (they count on their own, from the start)
KILL_PARENT = False  # set in worker processes: the crash takes the whole program down


def arm(spec: str) -> None:
    """Arm the points of ``spec`` (the ``SUPPLYFEED_FAILPOINTS`` syntax; "" disarms)."""
    global _spec
    _armed.clear()
    _armed.update(_parse(spec))
    _spec = spec


def armed_spec() -> str:
    """The spec this process was armed with, to arm a worker process the same way."""
    return _spec


def failpoint(name: str) -> None:
    """SIGKILL this process (or raise, or SIGTERM it) when the armed count for ``name``
    runs out."""
    if not _armed or name not in _armed:
        return
    action, left = _armed[name]
    if left > 1:
        _armed[name] = (action, left - 1)
        return
    del _armed[name]
    if action == "raise":
        raise FailpointError(f"failpoint {name}")
    if action == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if KILL_PARENT:
        os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
