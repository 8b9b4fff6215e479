"""One run at a time per database file: an exclusive ``flock`` on ``<db path>.lock``.

``flock`` belongs to the open file, so the kernel drops it when the holder dies, even by
SIGKILL: a crashed run never leaves a stale lock behind, and no pid check is needed. The
holder's pid is written into the file only to name it in the error.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .._exceptions import RunLockedError

__all__ = ["RunLock"]


class RunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise RunLockedError(
                f"another supplyfeed run (pid {holder}) holds {self.path}; "
                "wait for it to finish, or use a read-only command"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Empty the file before unlocking so that it never names a process that has left;
        # the file itself stays: unlinking it would race with a process about to lock it.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text or "unknown"
