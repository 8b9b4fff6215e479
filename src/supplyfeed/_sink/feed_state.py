"""Per-feed state between runs: page marks (resume) and incremental cursors.

- ``sf_page_marks``: per run and paged feed, the page to fetch next, stored only after
  the page before it committed, so ``resume`` continues after the last page that loaded.
  ``next_url`` None means every page of the feed has loaded.
- ``sf_cursors``: per feed, the highest cursor value (e.g. ``updated_at``) loaded by a
  run in which every page of that feed loaded; the next run asks only for newer data.

A sink that implements the four methods of :class:`FeedStateStore` is used directly; a
SQLite sink gets a store in its own file (like ``sf_http_cache``, see ``http_cache.py``);
any other sink object gets one in-memory store for its lifetime.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

__all__ = ["FeedStateStore", "MemoryFeedState", "PageMark", "SqliteFeedState", "state_for_sink"]

_CREATE: Final = (
    "CREATE TABLE IF NOT EXISTS sf_page_marks (run_id TEXT NOT NULL, feed_key TEXT NOT NULL, "
    "next_index INTEGER NOT NULL, next_url TEXT, updated_at TEXT NOT NULL, "
    "PRIMARY KEY (run_id, feed_key))",
    "CREATE TABLE IF NOT EXISTS sf_cursors (feed_key TEXT PRIMARY KEY, value TEXT NOT NULL, "
    "updated_at TEXT NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class PageMark:
    next_index: int
    next_url: str | None  # None: the feed's last page has loaded


@runtime_checkable
class FeedStateStore(Protocol):
    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]: ...

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None: ...

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]: ...

    async def put_cursors(self, entries: Mapping[str, str]) -> None: ...


class MemoryFeedState:
    def __init__(self) -> None:
        self.marks: dict[tuple[str, str], PageMark] = {}
        self.cursors: dict[str, str] = {}

    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        return {k: self.marks[run_id, k] for k in keys if (run_id, k) in self.marks}

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None:
        self.marks.update({(run_id, k): m for k, m in marks.items()})

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: self.cursors[k] for k in keys if k in self.cursors}

    async def put_cursors(self, entries: Mapping[str, str]) -> None:
        self.cursors.update(entries)


class SqliteFeedState:
    """Short-lived connections in a worker thread; WAL lets it share the sink's file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in _CREATE:
            conn.execute(statement)
        return conn

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        conn = self._connect()
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        conn = self._connect()
        try:
            with conn:
                conn.executemany(sql, rows)
        finally:
            conn.close()

    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        rows = await asyncio.to_thread(
            self._query,
            "SELECT feed_key, next_index, next_url FROM sf_page_marks WHERE run_id = ?",
            [run_id],
        )
        wanted = set(keys)
        return {
            str(k): PageMark(int(str(i)), None if u is None else str(u))
            for k, i, u in rows
            if k in wanted
        }

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None:
        if marks:
            now = dt.datetime.now(dt.UTC).isoformat()
            rows: list[tuple[object, ...]] = [
                (run_id, k, m.next_index, m.next_url, now) for k, m in marks.items()
            ]
            await asyncio.to_thread(
                self._write,
                "INSERT OR REPLACE INTO sf_page_marks VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        rows = await asyncio.to_thread(self._query, "SELECT feed_key, value FROM sf_cursors", [])
        wanted = set(keys)
        return {str(k): str(v) for k, v in rows if k in wanted}

    async def put_cursors(self, entries: Mapping[str, str]) -> None:
        if entries:
            now = dt.datetime.now(dt.UTC).isoformat()
            rows: list[tuple[object, ...]] = [(k, v, now) for k, v in entries.items()]
            await asyncio.to_thread(
                self._write, "INSERT OR REPLACE INTO sf_cursors VALUES (?, ?, ?)", rows
            )


_MEMORY: weakref.WeakKeyDictionary[object, MemoryFeedState] = weakref.WeakKeyDictionary()


def state_for_sink(sink: object) -> FeedStateStore:
    """The sink itself when it keeps feed state, a store in its SQLite file, or memory."""
    if isinstance(sink, FeedStateStore):
        return sink
    url = str(getattr(sink, "url", ""))
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            return SqliteFeedState(path)
    try:
        return _MEMORY.setdefault(sink, MemoryFeedState())
    except TypeError:  # not weak-referenceable: state lasts for this run only
        return MemoryFeedState()
