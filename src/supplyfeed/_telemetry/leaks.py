"""Leak checks at the end of a run (protocol 3 of ``_telemetry``).

An unreleased response holds its socket; enough of them and the process dies with
``OSError: [Errno 24] Too many open files``. So after the transport is closed, the run
checks two things:

- the process has no more open file descriptors than when the run started;
- no TCP connection the run opened is still there (``CLOSE_WAIT``: a response never released);
  an unreleased response shows up here, through the connection it holds, whichever
  transport or session made it.

Sockets close a loop iteration or two after ``close()`` (and a server in the same process
closes its side when it sees EOF), so the check polls for up to ``grace`` seconds before
it calls anything a leak.

Where ``/proc/self/fd`` can be read (Linux), a connection the run opened is a socket
descriptor that was not there at the start, so the TCP table (``psutil``'s
``net_connections``, a few milliseconds with a busy table) is read only when such a
descriptor exists, and only those descriptors' connections are reported. Elsewhere the
whole table is compared with its state at the start.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .._procstat import fd_count

__all__ = ["LeakCheck", "LeakReport"]

_Conn = tuple[str, str, str]  # local, remote, status
_FdConn = tuple[int, str, str, str]  # fd (-1 when unknown), local, remote, status


@dataclass(slots=True)
class LeakReport:
    """Descriptors and TCP connections the run left open, if any."""

    fds_start: int
    fds_end: int
    new_fds: list[str] = field(default_factory=list)
    open_connections: list[str] = field(default_factory=list)

    @property
    def leaked(self) -> bool:
        return self.fds_end > self.fds_start or bool(self.open_connections)

    def findings(self) -> list[str]:
        out = []
        if self.open_connections:
            shown = ", ".join(self.open_connections[:3])
            out.append(f"{len(self.open_connections)} TCP connection(s) still open: {shown}")
        if self.fds_end > self.fds_start:
            shown = ", ".join(self.new_fds[:3])
            out.append(
                f"open file descriptors: {self.fds_start} at start, {self.fds_end} at end"
                + (f" (new: {shown})" if shown else "")
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "leaked": self.leaked,
            "fds_start": self.fds_start,
            "fds_end": self.fds_end,
            "new_fds": self.new_fds[:10],
            "open_connections": self.open_connections[:10],
        }


class LeakCheck:
    """``start()`` before the first request; ``await finish()`` after the transport closed."""

    def __init__(
        self,
        *,
        grace: float = 1.0,
        expected: tuple[str, ...] = (),
    ) -> None:
        # Paths a still-open component may open lazily during the run (the sink's
        # database and its -wal/-shm files): their descriptors are not leaks.
        self._expected = expected
        self._grace = grace
        self._fds0: dict[int, str] = {}
        self._count0 = 0
        self._by_fd = False  # /proc/self/fd readable: sockets found by descriptor
        self._conns0: set[_Conn] = set()
        self._peers: frozenset[str] = frozenset()

    def expect(self, *paths: str) -> None:
        self._expected += tuple(p for p in paths if p)

    def expect_peers(self, *addresses: str) -> None:
        """``ip:port`` of a server the still-open sink talks to (PostgreSQL): a
        connection to it is the sink's, reconnected mid-run if need be, not a leak."""
        self._peers |= frozenset(addresses)

    def start(self) -> None:
        self._fds0 = _fds()
        self._count0 = fd_count()
        self._by_fd = bool(self._fds0)
        self._conns0 = set() if self._by_fd else {c[1:] for c in self._connections()}

    async def finish(self) -> LeakReport:
        deadline = time.monotonic() + self._grace
        while True:
            report = self._measure()
            if not report.leaked or time.monotonic() >= deadline:
                return report
            await asyncio.sleep(0.05)

    def _measure(self) -> LeakReport:
        fresh = {fd: t for fd, t in _fds().items() if self._fds0.get(fd) != t}
        excused = [t for t in fresh.values() if self._expected and t.startswith(self._expected)]
        found, opened = self._tcp(fresh)
        # the sink's own connections (and their descriptors) are expected: it is still open
        sink_fds = {fd for fd, _, remote, _ in found if remote in self._peers and fd in fresh}
        new = sorted(
            f"{fd} -> {t}" for fd, t in fresh.items() if t not in excused and fd not in sink_fds
        )
        conns = sorted(f"{loc} -> {rem} {st}" for loc, rem, st in opened if rem not in self._peers)
        return LeakReport(
            fds_start=self._count0,
            fds_end=fd_count() - len(excused) - len(sink_fds),
            new_fds=new,
            open_connections=conns,
        )

    def _tcp(self, fresh: dict[int, str]) -> tuple[set[_FdConn], set[tuple[str, str, str]]]:
        """The TCP connections on new descriptors (or all of them, where descriptors are
        not known), and those of them opened since :meth:`start`, without their fd."""
        if self._by_fd:
            sockets = {fd for fd, t in fresh.items() if t.startswith("socket:")}
            found = self._connections(sockets) if sockets else set()
            return found, {c[1:] for c in found}
        found = self._connections()
        return found, {c[1:] for c in found} - self._conns0

    def _connections(self, fds: set[int] | None = None) -> set[_FdConn]:
        """This process's TCP connections (not listeners); only those on ``fds`` if given.
        psutil is imported here: on Linux only a run with a socket left open gets here."""
        import psutil

        try:
            conns = psutil.Process().net_connections(kind="tcp")
        except psutil.Error:  # not permitted on some platforms: fds still tell
            return set()
        return {
            (c.fd, _addr(c.laddr), _addr(c.raddr), c.status)
            for c in conns
            if c.status != psutil.CONN_LISTEN and (fds is None or c.fd in fds)
        }


def _addr(addr: Any) -> str:
    return f"{addr.ip}:{addr.port}" if addr else "-"


def _fds() -> dict[int, str]:
    """Open descriptors and what they point at (Linux); empty elsewhere (counts still work)."""
    base = "/proc/self/fd"
    if not os.path.isdir(base):
        return {}
    out = {}
    for name in os.listdir(base):
        try:
            out[int(name)] = os.readlink(f"{base}/{name}")
        except OSError:  # closed meanwhile, or the directory's own descriptor
            continue
    return out
