"""One shard, run inside a worker: the same async engine, writing into the coordinator's run.

The worker opens the run's sink itself when every worker can reach it (PostgreSQL,
without the run lock: the coordinator holds that), or a :class:`~.relay.RelaySink` to the
coordinator's one writer (``relay:PATH``). It then runs :meth:`Runner.run_part`, which
skips the endpoints the run already finished: a shard run again after its worker died
only does what the dead worker had not committed.

A worker process runs one shard at a time, so ``max_concurrency`` applies per worker
even when a Dask worker has several threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .._config import FeedConfig
from .._run.pipeline import Runner, RunOptions
from .._sink.base import Sink
from .._sink.factory import open_sink
from .relay import RELAY_SCHEME, RelaySink
from .shards import Shard

__all__ = ["ShardReport", "ShardTask", "run_shard"]

_ONE_AT_A_TIME = threading.Lock()
_POLL_SECONDS = 0.5  # how often a shard asks whether it is still wanted


@dataclass(frozen=True, slots=True)
class ShardTask:
    run_id: str
    label: str
    shard: Shard
    config: FeedConfig
    sink: str  # a database URL the worker opens, or relay:PATH (the coordinator's)


@dataclass(frozen=True, slots=True)
class ShardReport:
    """What one attempt of a shard did, as the coordinator records it."""

    shard: int
    worker: str  # host:pid
    seconds: float
    stopped: bool = False  # it was no longer wanted (its coordinator went away)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_shard(task: ShardTask, wanted: Callable[[], bool] = lambda: True) -> ShardReport:
    """Run one shard to the end (blocking). ``wanted`` turning false (the coordinator
    gave the shard up) stops it gracefully: writes in flight finish, nothing new starts."""
    with _ONE_AT_A_TIME:
        t0 = time.monotonic()
        stopped = asyncio.run(_run(task, wanted))
        return ShardReport(task.shard.index, worker_name(), time.monotonic() - t0, stopped)


def _sink(url: str) -> Sink:
    if url.startswith(RELAY_SCHEME):
        return RelaySink(url.removeprefix(RELAY_SCHEME))
    return open_sink(url, lock=False)


async def _run(task: ShardTask, wanted: Callable[[], bool]) -> bool:
    sink = _sink(task.sink)
    await sink.open()
    try:
        runner = Runner(
            task.shard.suppliers,
            sink,
            task.config,
            RunOptions(label=task.label, run_id=task.run_id),
        )
        watch = asyncio.create_task(_watch(runner, wanted), name="shard-watch")
        try:
            await runner.run_part()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        return not wanted()
    finally:
        await sink.close()


async def _watch(runner: Runner, wanted: Callable[[], bool]) -> None:
    while True:
        await asyncio.sleep(_POLL_SECONDS)
        if not wanted():
            runner.stop()
            return
