"""The SQLite sink's database worker in its own process.

On a 2-core machine, decoding and writing in a thread of the fetching process competes for
one GIL with the event loop: every socket call then waits for the writer's Python work
(the convoy effect), and the run goes at the speed of one core. With ``worker="process"``
the sink's :class:`~supplyfeed._sink.sqlite_db.Database` lives in a spawned child: decode
and SQL run on the other core, and the parent only fetches. There is still exactly one
writer, so SQLite's single-writer rule and the transaction design are unchanged.

The child ignores SIGINT and SIGTERM: a terminal's Ctrl-C reaches the whole process
group, and a graceful stop means the parent stops fetching while the child finishes the
transaction in flight. If the parent dies, the child finishes (commits or rolls back) the
call in progress and exits (see ``_exit_with_parent``); any commit it makes is a complete
unit with its ledger row, so ``resume`` stays exact.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from .. import _failpoints
from .._gcpolicy import tune_for_batch
from .._procutil import die_with_parent
from .sqlite_db import Database, run_converted

__all__ = ["child_call", "child_init"]

_db: Database | None = None  # the child's Database


def child_init(
    path: str, busy_timeout: float, pragmas: Mapping[str, Any], chunk_rows: int, failpoints: str
) -> None:
    global _db
    _exit_with_parent()  # first: the parent may already be gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _failpoints.arm(failpoints)  # as the parent was armed (tests only)
    _failpoints.KILL_PARENT = True  # a crash point means the whole program dies there
    tune_for_batch()  # the worker allocates the most: a record's dicts and lists each
    _db = Database(path, busy_timeout=busy_timeout, pragmas=pragmas, chunk_rows=chunk_rows)
    atexit.register(_leave)  # registered last, so it runs first


def _leave() -> None:
    """A spawned worker's exit, without the interpreter's teardown (a forked one leaves
    by multiprocessing's own ``os._exit`` and never runs exit handlers): freeing its modules and
    objects one by one is 20-30 ms that ``SqliteSink.close`` waits for. By the time exit
    handlers run, the pool's sentinel has ended the worker loop, the Database is closed
    and multiprocessing has done its own exit work (``BaseProcess._bootstrap`` calls
    ``util._exit_function``); only the log handlers are left to flush. A worker that
    crashed never gets here (SIGKILL, ``os._exit``); the pool does not read exit codes."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


def _exit_with_parent() -> None:
    """A SIGKILLed parent cannot shut the pool down: leave when it is gone (an open
    transaction then rolls back, which is exactly what the ledger expects).

    The parent's pid comes from multiprocessing (the spawning process passed it), not from
    ``getppid()`` here: the parent may have died during this child's imports, and the
    child would then watch its new parent (init) forever. On Linux the kernel also sends
    SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); the watch covers the rest."""
    process = multiprocessing.parent_process()
    parent = process.pid if process is not None and process.pid else os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # died before the signal was set
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="supplyfeed-parent-watch", daemon=True).start()


def child_call(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run one ``Database`` method; errors cross the process boundary as SinkError."""
    if _db is None:
        raise RuntimeError("child_call before child_init")
    return run_converted(_db.path, getattr(_db, method), *args, **kwargs)
