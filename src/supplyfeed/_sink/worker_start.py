"""Start a worker process quickly, and without re-running the user's script.

**How it starts.** A forked child is ready in about 10 ms: it has every module the
parent imported. A spawned one is a new interpreter that imports the package again and,
with it, multiprocessing's resource tracker, another interpreter: 150-180 ms before the
first call, on the run's critical path (issue 17, ``python -m bench fetch``).
:func:`worker_context` forks where that is safe and spawns elsewhere:

- on Linux only (macOS's system frameworks are not fork-safe; Windows has no fork);
- only while the process has exactly one thread, counted by the kernel (C libraries'
  threads included): a thread that holds a lock at the fork (logging's, the import
  lock, an allocator's) leaves it held forever in the child. Python 3.12 warns about
  exactly this case, which is therefore never reached. The CLI starts its worker first
  of all, before any thread exists; a program that calls ``run_feeds`` from a
  multi-threaded process gets a spawned worker, as before.

The forked child never touches what it inherits from the parent's state: it runs the
executor's call loop, opens its own connection (the parent's ``Database`` object is
never opened in process mode, so no SQLite connection crosses the fork) and leaves by
``os._exit``. The run lock's ``flock`` is shared with the child, which only holds it
longer: until the worker is gone.

**The user's script.** multiprocessing's ``spawn`` start method runs the parent's
``__main__`` script again in the child, to rebuild its namespace, unless the parent was
started with ``python -m``.
A user's script without an ``if __name__ == "__main__":`` guard would then call
``supplyfeed.run_feeds`` again inside the SQLite worker, which fails while the worker
bootstraps. The worker needs nothing from ``__main__`` (it only calls supplyfeed's own
functions), so while it starts, ``__main__`` is given the spec of a module run by the
name ``__main__``, which ``spawn`` knows to leave alone in the child.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import multiprocessing
import sys
from collections.abc import Iterator
from multiprocessing.context import BaseContext
from pathlib import Path

__all__ = ["main_script_not_rerun", "os_threads", "worker_context"]


def worker_context() -> BaseContext:
    """``fork`` where it is safe (Linux, one thread), else ``spawn``."""
    if sys.platform == "linux" and os_threads() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def os_threads() -> int | None:
    """This process's threads as the kernel counts them, or None where it cannot say."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return None


@contextlib.contextmanager
def main_script_not_rerun() -> Iterator[None]:
    """Processes started inside this block do not re-run the ``__main__`` script."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield  # run with -m (the CLI), or no script at all: nothing is re-run
        return
    main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None
