"""Per-feed state between runs: page marks (resume) and incremental cursors.

- ``sf_page_marks``: per run and paged feed, the page to fetch next, stored only after
  the page before it committed, so ``resume`` continues after the last page that loaded.
  ``next_url`` None means every page of the feed has loaded.
- ``sf_cursors``: per feed, the highest cursor value (e.g. ``updated_at``) loaded by a
  run in which every page of that feed loaded; the next run asks only for newer data.

A sink that implements the four methods of :class:`FeedStateStore` is used directly: the
SQLite sink keeps both tables in its own file, written by its own database worker (like
``sf_http_cache``, see ``http_cache.py``) with the SQL below; the PostgreSQL sink keeps
them in its database (``postgres_state.py``); any other sink object (the in-memory fake)
gets one in-memory store for its lifetime.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "CREATE_FEED_STATE",
    "FeedStateStore",
    "MemoryFeedState",
    "PageMark",
    "read_cursors",
    "read_page_marks",
    "write_cursors",
    "write_page_marks",
]

CREATE_FEED_STATE: Final = (
    "CREATE TABLE IF NOT EXISTS sf_page_marks (run_id TEXT NOT NULL, feed_key TEXT NOT NULL, "
    "next_index INTEGER NOT NULL, next_url TEXT, updated_at TEXT NOT NULL, "
    "PRIMARY KEY (run_id, feed_key))",
    "CREATE TABLE IF NOT EXISTS sf_cursors (feed_key TEXT PRIMARY KEY, value TEXT NOT NULL, "
    "updated_at TEXT NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class PageMark:
    """How far a paged feed has loaded within a run: the next page to fetch."""

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


def read_page_marks(
    conn: sqlite3.Connection, run_id: str, keys: Sequence[str]
) -> dict[str, PageMark]:
    rows = conn.execute(
        "SELECT feed_key, next_index, next_url FROM sf_page_marks WHERE run_id = ?", [run_id]
    )
    wanted = set(keys)
    return {
        str(k): PageMark(int(str(i)), None if u is None else str(u))
        for k, i, u in rows
        if k in wanted
    }


def write_page_marks(conn: sqlite3.Connection, run_id: str, marks: Mapping[str, PageMark]) -> None:
    """Upsert ``marks``; the caller owns the transaction."""
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = [(run_id, k, m.next_index, m.next_url, now) for k, m in marks.items()]
    conn.executemany("INSERT OR REPLACE INTO sf_page_marks VALUES (?, ?, ?, ?, ?)", rows)


def read_cursors(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
    wanted = set(keys)
    rows = conn.execute("SELECT feed_key, value FROM sf_cursors")
    return {str(k): str(v) for k, v in rows if k in wanted}


def write_cursors(conn: sqlite3.Connection, entries: Mapping[str, str]) -> None:
    """Upsert ``entries``; the caller owns the transaction."""
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = [(k, v, now) for k, v in entries.items()]
    conn.executemany("INSERT OR REPLACE INTO sf_cursors VALUES (?, ?, ?)", rows)
