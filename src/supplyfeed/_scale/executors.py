"""Where shards run: ``processes:N`` local worker processes (here) or Dask (``dask_executor``).

Both give the coordinator the same two things: how many workers there are (to size the
shards), and each shard's :class:`~.worker.ShardReport` once it finished, after however
many attempts it took. Every attempt is kept (:class:`Attempt`) for the run summary.

Worker loss, ``processes:N``: a worker that dies (SIGKILL, out of memory) breaks Python's
process pool, which ends every worker of it; each shard that was running is then run
again in a fresh pool, up to ``max_attempts`` in all. A shard whose attempts all failed
leaves its unfinished endpoints ``pending`` and the run stops with exit 3, for ``resume``.
Workers ignore Ctrl-C (the coordinator's first one stops it gracefully: running shards
finish, no new one starts) and die with the coordinator (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._procutil import die_with_parent
from .._sink.base import Sink
from .relay import RelayServer
from .worker import ShardReport, ShardTask, run_shard

__all__ = ["Attempt", "Backend", "ProcessBackend", "Session", "ShardDone"]

ShardDone = Callable[[ShardTask, ShardReport], Awaitable[None]]
_SHARED_SINKS = ("postgresql://", "postgres://")


@dataclass(slots=True)
class Attempt:
    worker: str  # host:pid, or "" when the worker died before it said
    outcome: str  # done | worker lost | error: ... | stopped
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"worker": self.worker, "outcome": self.outcome, "seconds": round(self.seconds, 3)}


@dataclass(slots=True)
class Attempts:
    """Every attempt of every shard, and the shards that ran out of attempts."""

    by_shard: dict[int, list[Attempt]] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    def add(self, shard: int, attempt: Attempt) -> int:
        self.by_shard.setdefault(shard, []).append(attempt)
        return len(self.by_shard[shard])


class Session(Protocol):
    workers: int
    sink_url: str  # what workers open: a shared database URL or the relay

    async def run(self, tasks: list[ShardTask], done: ShardDone) -> Attempts: ...

    def stop(self) -> None: ...


class Backend(Protocol):
    name: str

    def session(self, sink: Sink) -> AbstractAsyncContextManager[Session]: ...


_STOP: Any = None  # in a worker: the pool's stop event (a multiprocessing.Event)


def _init_worker(stop: Any) -> None:
    global _STOP
    _STOP = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()  # else the pool still ends them


def _wanted() -> bool:
    return _STOP is None or not _STOP.is_set()


def run_in_pool(task: ShardTask) -> ShardReport:
    """A pool worker's shard: it stops gracefully once the coordinator sets the event."""
    return run_shard(task, _wanted)


class ProcessBackend:
    """``processes:N``: a pool of N spawned worker processes on this machine."""

    def __init__(self, workers: int, *, max_attempts: int = 3, relay: bool | None = None) -> None:
        self.name = f"processes:{workers}"
        self.workers = workers
        self.max_attempts = max_attempts
        self.relay = relay  # rows to the coordinator; None: unless the sink is PostgreSQL

    @asynccontextmanager
    async def session(self, sink: Sink) -> AsyncIterator[_ProcessSession]:
        shared = sink.url.startswith(_SHARED_SINKS)
        if not (self.relay if self.relay is not None else not shared):
            yield _ProcessSession(self, sink.url)
            return
        async with RelayServer(sink) as server:  # SQLite, memory://: rows to the one writer
            yield _ProcessSession(self, server.url)


class _ProcessSession:
    def __init__(self, backend: ProcessBackend, sink_url: str) -> None:
        self.workers = backend.workers
        self.max_attempts = backend.max_attempts
        self.sink_url = sink_url
        self._stopped = False
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()

    def stop(self) -> None:
        """No new shard starts; running ones finish their writes in flight and stop."""
        self._stopped = True
        self._stop.set()

    async def run(self, tasks: list[ShardTask], done: ShardDone) -> Attempts:
        queue = deque(tasks)
        attempts = Attempts()
        while queue and not self._stopped:
            pool = concurrent.futures.ProcessPoolExecutor(
                self.workers,
                mp_context=self._context,
                initializer=_init_worker,
                initargs=(self._stop,),
            )
            try:
                await self._drain(pool, queue, attempts, done)
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        return attempts

    async def _drain(
        self,
        pool: concurrent.futures.ProcessPoolExecutor,
        queue: deque[ShardTask],
        attempts: Attempts,
        done: ShardDone,
    ) -> None:
        """Run shards on ``pool`` until the queue is empty or the pool broke."""
        loop = asyncio.get_running_loop()
        running: dict[asyncio.Future[ShardReport], tuple[ShardTask, float]] = {}
        broken = False
        while queue or running:
            while queue and len(running) < self.workers and not (broken or self._stopped):
                task = queue.popleft()
                running[loop.run_in_executor(pool, run_in_pool, task)] = (task, time.monotonic())
            if not running:
                return
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for future in finished:
                task, t0 = running.pop(future)
                broken |= await self._settle(future, task, t0, queue, attempts, done)
            if broken and not running:
                return

    async def _settle(
        self,
        future: asyncio.Future[ShardReport],
        task: ShardTask,
        t0: float,
        queue: deque[ShardTask],
        attempts: Attempts,
        done: ShardDone,
    ) -> bool:
        """Record one attempt; requeue its shard if it failed. True: the pool broke."""
        index = task.shard.index
        try:
            report = future.result()
        except BrokenProcessPool:
            outcome, broken = "worker lost", True
        except Exception as exc:
            outcome, broken = f"error: {type(exc).__name__}: {exc}", False
        else:
            outcome = "stopped" if report.stopped else "done"
            attempts.add(index, Attempt(report.worker, outcome, report.seconds))
            await done(task, report)
            return False
        made = attempts.add(index, Attempt("", outcome, time.monotonic() - t0))
        if made < self.max_attempts:
            queue.append(task)
        else:
            attempts.failed[index] = outcome
        return broken
