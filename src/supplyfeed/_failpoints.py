"""Named crash points for the reliability tests (in the spirit of FoundationDB's and
TiKV's failpoints).

``SUPPLYFEED_FAILPOINTS="after_fetch=3,after_commit=1"`` makes the process SIGKILL itself
the 3rd time it passes ``after_fetch``, or the 1st time it passes ``after_commit``. Unset
(always, in production), :func:`failpoint` is one dict lookup on an empty dict.

Points: ``after_fetch`` (a body is fetched, nothing written), ``mid_batch`` (inside the
sink's transaction, some units written, nothing committed), ``after_commit`` (a
transaction committed, nothing else done yet).
"""

from __future__ import annotations

import os
import signal

__all__ = ["failpoint"]


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, count = item.partition("=")
        points[name] = int(count or "1")
    return points


_armed = _parse(os.environ.get("SUPPLYFEED_FAILPOINTS", ""))
KILL_PARENT = False  # set in worker processes: the crash takes the whole program down


def failpoint(name: str) -> None:
    """SIGKILL this process when the armed count for ``name`` runs out."""
    if not _armed or name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] <= 0:
        if KILL_PARENT:
            os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
