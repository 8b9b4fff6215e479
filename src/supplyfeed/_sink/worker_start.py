"""Start a worker process without re-running the user's script.

multiprocessing's ``spawn`` start method runs the parent's ``__main__`` script again in
the child, to rebuild its namespace, unless the parent was started with ``python -m``.
A user's script without an ``if __name__ == "__main__":`` guard would then call
``supplyfeed.run_feeds`` again inside the SQLite worker, which fails while the worker
bootstraps. The worker needs nothing from ``__main__`` (it only calls supplyfeed's own
functions), so while it starts, ``__main__`` is given the spec of a module run by the
name ``__main__``, which ``spawn`` knows to leave alone in the child.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import sys
from collections.abc import Iterator

__all__ = ["main_script_not_rerun"]


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
