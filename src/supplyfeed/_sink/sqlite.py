"""The embedded default sink: one SQLite file, written by one dedicated thread.

The connection is created, used and closed by a single worker thread, so the event loop
never blocks on the database and SQLite's one-writer rule holds by construction; decoding
(``unit.documents()``) also runs there, inside the transaction that stores its rows.
The connection itself is :class:`~supplyfeed._sink.sqlite_db.Database`; its errors become
:class:`SinkError` once, in :func:`~supplyfeed._sink.sqlite_db.run_converted`, on either worker.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar, cast

from .. import _failpoints
from .._exceptions import ConfigError, SinkError
from .._fetch.conditional import Validators
from .._formats.body import Body
from .._models import Document
from .base import (
    Conflict,
    DeadLetter,
    Endpoint,
    EndpointRecord,
    LoadUnit,
    RequestTrace,
    RunRecord,
)
from .feed_state import PageMark
from .runlock import RunLock
from .sqlite_db import MEMORY, Database, run_converted
from .sqlite_worker import child_call, child_init
from .worker_start import main_script_not_rerun, worker_context

__all__ = ["MEMORY", "SqliteSink", "sqlite_path"]

P = ParamSpec("P")
T = TypeVar("T")


def sqlite_path(url: str) -> str:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            f"not a SQLite URL: {url!r} (use sqlite:///relative.db or sqlite:////abs.db)",
            key="sink",
        )
    return url[len(prefix) :]


class SqliteSink:
    """The :class:`~supplyfeed._sink.base.Sink` on one SQLite file.

    ``lock=False`` opens without the one-run-at-a-time lock, for read-only commands
    (report, dead-letters) while a run may be going on. ``pragmas`` are applied after the
    defaults (WAL, ``synchronous=NORMAL``, ``busy_timeout``), e.g. ``max_page_count``.
    """

    def __init__(
        self,
        url: str,
        *,
        lock: bool = True,
        busy_timeout: float = 10.0,
        chunk_rows: int = 20_000,
        pragmas: Mapping[str, Any] | None = None,
        worker: Literal["thread", "process"] = "thread",
    ) -> None:
        self.url = url
        self.path = sqlite_path(url)
        if worker not in ("thread", "process"):
            raise ConfigError(f"worker must be thread or process, not {worker!r}", key="worker")
        self._worker = "thread" if self.path == MEMORY else worker
        # the worker process's Database, and its crash points as this process has them
        pragma_map = dict(pragmas or {})
        self._child_args = (
            self.path,
            busy_timeout,
            pragma_map,
            chunk_rows,
            _failpoints.armed_spec(),
        )
        self._db = Database(
            self.path, busy_timeout=busy_timeout, pragmas=pragmas or {}, chunk_rows=chunk_rows
        )
        use_lock = lock and self.path != MEMORY
        self._lock = RunLock(Path(f"{self.path}.lock")) if use_lock else None
        self._executor: Executor | None = None

    async def __aenter__(self) -> SqliteSink:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None:
            raise SinkError(f"the SQLite sink {self.path} is not open")
        loop = asyncio.get_running_loop()
        if self._worker == "process":
            # The child holds its own Database: call it by method name.
            call = functools.partial(child_call, fn.__name__, args, kwargs)
        else:
            call = functools.partial(run_converted, self.path, fn, *args, **kwargs)
        try:
            return cast(T, await loop.run_in_executor(self._executor, call))
        except BrokenProcessPool as exc:
            raise SinkError(f"the database worker for {self.path} died") from exc

    async def open(self) -> None:
        if self._executor is not None:
            return
        if self._lock is not None:
            self._lock.acquire()
        self._executor = self._new_executor()
        try:
            await self._call(self._db.open)
        except BaseException:
            await self._shutdown()
            raise

    def _new_executor(self) -> Executor:
        if self._worker == "process":
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=worker_context(),  # fork when safe: ready in 10 ms, not 170
                initializer=child_init,
                initargs=self._child_args,
            )
            with main_script_not_rerun():  # a user script needs no __main__ guard
                pool.submit(os.getpid)  # the first call starts the worker, here and now
            return pool
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="supplyfeed-sqlite")

    async def close(self) -> None:
        if self._executor is None:
            return
        try:
            await self._call(self._db.close)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # The worker is idle (every call was awaited), so this returns at once.
            executor.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()

    async def start_run(self, run: RunRecord, endpoints: Sequence[Endpoint]) -> None:
        await self._call(self._db.start_run, run, endpoints)

    async def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        await self._call(self._db.finish_run, run_id, status, summary)

    async def get_run(self, run_id: str | None = None) -> RunRecord | None:
        return await self._call(self._db.get_run, run_id)

    async def record(self, records: Sequence[EndpointRecord], run_id: str) -> None:
        await self._call(self._db.record, records, run_id)

    async def endpoints(self, run_id: str) -> list[EndpointRecord]:
        return await self._call(self._db.endpoints, run_id)

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        return await self._call(self._db.get_validators, list(keys))

    async def put_validators(self, entries: Mapping[str, Validators]) -> None:
        if entries:
            await self._call(self._db.put_validators, dict(entries))

    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        return await self._call(self._db.get_page_marks, run_id, list(keys))

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None:
        if marks:
            await self._call(self._db.put_page_marks, run_id, dict(marks))

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        return await self._call(self._db.get_cursors, list(keys))

    async def put_cursors(self, entries: Mapping[str, str]) -> None:
        if entries:
            await self._call(self._db.put_cursors, dict(entries))

    async def load(self, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
        return await self._call(self._db.load, units)

    async def finish_source(self, run_id: str, source: str) -> int:
        """A paged source's delivery in ``run_id`` is complete (docs/contract.md §6)."""
        return await self._call(self._db.finish_source, run_id, source)

    async def checkpoint(self) -> None:
        await self._call(self._db.checkpoint)

    async def conflicts(self, run_id: str | None = None) -> list[Conflict]:
        return await self._call(self._db.conflicts, run_id)

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        return await self._call(self._db.table_rows, table)

    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        return await self._call(self._db.dead_letters, include_resolved)

    async def trace(self, request_id: str) -> RequestTrace:
        return await self._call(self._db.trace, request_id)

    async def replay(
        self, dead_letter_id: int, documents: Callable[[Body], Iterator[Document]]
    ) -> EndpointRecord:
        return await self._call(self._db.replay, dead_letter_id, documents)
