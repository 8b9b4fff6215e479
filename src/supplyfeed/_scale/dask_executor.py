"""``dask://HOST:PORT``: shards as tasks on a Dask distributed scheduler.

Each shard is one task (``pure=False``, keyed by run and shard). Worker loss is Dask's to
handle: when a worker dies, the scheduler runs its tasks again on another worker (up to
``distributed.scheduler.allowed-failures`` times, then ``KilledWorker``); a shard that
raised is retried ``max_attempts - 1`` times (``retries``). Every attempt logs an event
(topic ``supplyfeed-shards``) on the scheduler, so the coordinator can list the attempts,
and their workers, in the run summary.

Workers open the run's PostgreSQL database themselves (``spec.check_sink`` refused any
other sink). A shard asks its worker every half second whether the task is still wanted:
when the coordinator goes away (SIGKILL) the scheduler releases its tasks, and a running
shard then stops gracefully, so ``resume`` does not race it for long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .._exceptions import ConfigError
from .._sink.base import Sink
from .executors import Attempt, Attempts, ShardDone
from .worker import ShardReport, ShardTask, run_shard, worker_name

__all__ = ["TOPIC", "DaskBackend", "run_on_dask"]

TOPIC = "supplyfeed-shards"
_GONE = frozenset({"cancelled", "released", "forgotten"})


def run_on_dask(task: ShardTask) -> ShardReport:
    """The task a Dask worker runs: one shard, bracketed by events for the ledger."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()
    event = {"run_id": task.run_id, "shard": task.shard.index, "process": worker_name()}
    worker.log_event(TOPIC, {**event, "event": "start", "address": worker.address})

    def wanted() -> bool:
        state = worker.state.tasks.get(key)
        return state is not None and state.state not in _GONE

    try:
        report = run_shard(task, wanted)
    except Exception as exc:
        worker.log_event(TOPIC, {**event, "event": "error", "error": f"{exc!r}"})
        raise
    ended = "stopped" if report.stopped else "done"
    worker.log_event(TOPIC, {**event, "event": ended, "seconds": report.seconds})
    return report


class DaskBackend:
    def __init__(self, address: str, *, max_attempts: int = 3, timeout: float = 5.0) -> None:
        self.name = f"dask://{address.removeprefix('tcp://')}"
        self.address = address
        self.max_attempts = max_attempts
        self.timeout = timeout

    @asynccontextmanager
    async def session(self, sink: Sink) -> AsyncIterator[_DaskSession]:
        try:
            from distributed import Client
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"the {self.name} executor needs Dask: pip install 'supplyfeed[dask]'"
            ) from exc
        try:
            client = await Client(  # type: ignore[no-untyped-call]
                self.address, asynchronous=True, timeout=self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {self.name}: {exc}; is it running?"
            ) from exc
        try:
            await client.wait_for_workers(1, timeout=max(self.timeout, 30.0))
            identity = await client.scheduler.identity(n_workers=-1)
            yield _DaskSession(self, client, sink.url, len(identity.get("workers", {})))
        except TimeoutError as exc:
            raise ConfigError(f"the Dask scheduler at {self.name} has no worker") from exc
        finally:
            await client.close()


class _DaskSession:
    def __init__(self, backend: DaskBackend, client: Any, sink_url: str, workers: int) -> None:
        self.backend = backend
        self.client = client
        self.sink_url = sink_url
        self.workers = max(1, workers)
        self._futures: list[Any] = []
        self._cancel: asyncio.Task[Any] | None = None

    def stop(self) -> None:
        """No new shard starts; running ones see their task cancelled and stop gracefully."""
        if self._futures and self._cancel is None:
            self._cancel = asyncio.get_running_loop().create_task(self.client.cancel(self._futures))

    async def run(self, tasks: list[ShardTask], done: ShardDone) -> Attempts:
        from distributed import as_completed
        from distributed.client import FutureCancelledError

        by_key = {}
        for task in tasks:
            future = self.client.submit(
                run_on_dask,
                task,
                key=f"supplyfeed-{task.run_id}-shard-{task.shard.index}",
                pure=False,
                retries=self.backend.max_attempts - 1,
            )
            by_key[future.key] = task
            self._futures.append(future)
        failed: dict[int, str] = {}
        async for future in as_completed(self._futures):  # type: ignore[no-untyped-call]
            task = by_key[future.key]
            try:
                report = await future
            except FutureCancelledError:
                continue  # stopped (SIGTERM): its endpoints stay pending, for resume
            except Exception as exc:
                if self._cancel is None:
                    failed[task.shard.index] = f"{type(exc).__name__}: {exc}"
            else:
                await done(task, report)
        if self._cancel is not None:
            with contextlib.suppress(Exception):
                await self._cancel
        return await self._attempts(tasks, failed)

    async def _attempts(self, tasks: list[ShardTask], failed: dict[int, str]) -> Attempts:
        """The attempts, from the workers' events, in the order they started: a start
        never followed by an end in the same worker process is a worker lost."""
        run_id = tasks[0].run_id if tasks else ""
        rows: list[tuple[float, int, Attempt]] = []
        running: dict[tuple[int, str], float] = {}  # (shard, worker) -> when it started
        for when, msg in await self.client.get_events(TOPIC):
            if msg.get("run_id") != run_id:
                continue
            where = (msg["shard"], msg["process"])
            if msg["event"] == "start":
                if where in running:
                    rows.append((running[where], where[0], Attempt(where[1], "worker lost")))
                running[where] = when
                continue
            started = running.pop(where, when)
            outcome = msg["event"] if msg["event"] != "error" else f"error: {msg['error']}"
            rows.append((started, where[0], Attempt(where[1], outcome, when - started)))
        rows += [(t, s, Attempt(w, "worker lost")) for (s, w), t in running.items()]
        attempts = Attempts(failed=failed)
        for _, shard, attempt in sorted(rows, key=lambda r: r[0]):
            attempts.add(shard, attempt)
        return attempts
