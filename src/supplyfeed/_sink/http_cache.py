"""Where conditional-request validators live between runs (``sf_http_cache``).

Two stores implement :class:`~supplyfeed._fetch.conditional.ValidatorStore`: one in
memory (tests, one-process use) and one in a SQLite database, normally the sink's own
file so that wiping the data also forgets the validators. A sink that implements
``get_validators`` / ``put_validators`` itself is preferred (:func:`store_for_sink`).

The SQLite store uses its own short-lived connections in a worker thread; WAL mode and a
busy timeout let it share the file with the sink's writer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from .._fetch.conditional import Validators, ValidatorStore

__all__ = ["MemoryValidatorStore", "SqliteValidatorStore", "store_for_sink"]

TABLE: Final = "sf_http_cache"
_CREATE: Final = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (endpoint_key TEXT PRIMARY KEY, etag TEXT, "
    "last_modified TEXT, sha256 TEXT, updated_at TEXT NOT NULL)"
)
_CHUNK: Final = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit


class MemoryValidatorStore:
    def __init__(self) -> None:
        self.entries: dict[str, Validators] = {}

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        return {k: self.entries[k] for k in keys if k in self.entries}

    async def put_validators(self, entries: Mapping[str, Validators]) -> None:
        self.entries.update(entries)


class SqliteValidatorStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_CREATE)
        return conn

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        return await asyncio.to_thread(self._get, list(keys))

    def _get(self, keys: list[str]) -> dict[str, Validators]:
        out: dict[str, Validators] = {}
        conn = self._connect()
        try:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i : i + _CHUNK]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT endpoint_key, etag, last_modified, sha256 FROM {TABLE} "
                    f"WHERE endpoint_key IN ({marks})",
                    part,
                )
                for key, etag, modified, sha in rows:
                    out[key] = Validators(etag, modified, sha)
        finally:
            conn.close()
        return out

    async def put_validators(self, entries: Mapping[str, Validators]) -> None:
        if entries:
            await asyncio.to_thread(self._put, dict(entries))

    def _put(self, entries: dict[str, Validators]) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        conn = self._connect()
        try:
            with conn:
                conn.executemany(
                    f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?) ON CONFLICT(endpoint_key) DO "
                    "UPDATE SET etag=excluded.etag, last_modified=excluded.last_modified, "
                    "sha256=excluded.sha256, updated_at=excluded.updated_at",
                    [(k, v.etag, v.last_modified, v.sha256, now) for k, v in entries.items()],
                )
        finally:
            conn.close()


def store_for_sink(sink: object) -> ValidatorStore | None:
    """The sink itself when it keeps validators, a store in its SQLite file, or None."""
    if isinstance(sink, ValidatorStore):
        return sink
    url = str(getattr(sink, "url", ""))
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            return SqliteValidatorStore(path)
    return None
