"""This process's own figures, read from ``/proc`` where there is one (Linux), else
through psutil, which is imported only then.

A run needs three of them: its resident memory, its open descriptors and whether the
process that left a spool file is still alive. psutil answers each on Linux by reading
the same ``/proc`` files, after an import of about 8 ms at every run's start-up.
"""

from __future__ import annotations

import os
import sys

__all__ = ["fd_count", "pid_alive", "rss_bytes"]

_PROC = "/proc/self"


def rss_bytes() -> int:
    """Resident set size now: ``/proc/self/statm``'s second field, in pages."""
    try:
        with open(f"{_PROC}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        import psutil

        return int(psutil.Process().memory_info().rss)


def fd_count() -> int:
    """Open file descriptors (handles on Windows)."""
    try:
        return len(os.listdir(f"{_PROC}/fd"))
    except OSError:
        import psutil

        proc = psutil.Process()
        if sys.platform == "win32":  # pragma: no cover
            return int(getattr(proc, "num_handles")())  # noqa: B009 (Windows only)
        return int(proc.num_fds())


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts: it is alive)."""
    if pid <= 0:
        return False
    if os.name != "posix":  # pragma: no cover
        import psutil

        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, the pid is only checked
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
