"""How the garbage collector runs in supplyfeed's own processes: a run of the command
line and the SQLite worker. A library caller's process keeps its own settings.

Two measures, each measured on a 2,000-endpoint run (bench/RESULTS.md, 2026-12-04):

- **Fewer young collections.** A run allocates millions of short-lived containers (a
  dict per record, a list per line) that reference counting frees as soon as they are
  done with; the cyclic collector still counts every allocation and, at CPython's
  default threshold of 700, ran a young collection about 300 times in the parent and
  350 times in the worker. At ``BATCH_THRESHOLD`` it runs a handful of times: the
  parent's generation 1 and 2 collections took 4 ms instead of 65. Garbage in cycles
  waits a little longer for its collection: at most that many allocations.
- **The heap a run starts with, frozen** (:func:`freeze_heap`). Its modules, classes and
  the feeds file's specs (57,000 objects on 2,000 endpoints, alive until the process
  ends) are left out of every full collection: the parent's took 24 ms instead of 58,
  and the worker's 3 ms instead of 30. Frozen before the worker is forked, they are left
  out of its collections too, which then do not write to the pages it shares with the
  parent.

:func:`batch_collection` (:func:`in_batch_collection` for a coroutine function) undoes
both when the run ends, so that a long-lived process (``--every``, or a test calling the
CLI in-process) gets its thresholds back and can collect what a run left behind.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "BATCH_THRESHOLD",
    "batch_collection",
    "freeze_heap",
    "in_batch_collection",
    "tune_for_batch",
]

P = ParamSpec("P")
T = TypeVar("T")

BATCH_THRESHOLD = 20_000  # allocations between young collections (CPython: 700)


def tune_for_batch() -> None:
    """Collect the young generation every ``BATCH_THRESHOLD`` allocations (the older
    generations' thresholds are left as they are)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(BATCH_THRESHOLD, older, oldest)


def freeze_heap() -> None:
    """Leave every object alive now out of the collections to come (``gc.freeze``)."""
    gc.freeze()


@contextmanager
def batch_collection() -> Iterator[None]:
    """A run's collector: :func:`tune_for_batch` within; on exit the thresholds as they
    were, and whatever :func:`freeze_heap` froze meanwhile unfrozen."""
    before = gc.get_threshold()
    tune_for_batch()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def in_batch_collection(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """The coroutine function ``fn``, run within :func:`batch_collection`."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with batch_collection():
            return await fn(*args, **kwargs)

    return run
