"""Where conditional-request validators live between runs (``sf_http_cache``).

Three stores implement :class:`~supplyfeed._fetch.conditional.ValidatorStore`: one in
memory (tests, one-process use); the SQLite sink itself, which keeps them in its own
file, written by its own database worker (no second connection competes for the write
lock, and wiping the data also forgets the validators); and the PostgreSQL sink, in its
database (``postgres_state.py``). :func:`read_validators` and :func:`write_validators`
are the SQLite SQL. Every sink keeps them: the methods are part of the ``Sink`` protocol.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Final

from .._fetch.conditional import Validators

__all__ = [
    "CREATE_HTTP_CACHE",
    "MemoryValidatorStore",
    "read_validators",
    "write_validators",
]

TABLE: Final = "sf_http_cache"
CREATE_HTTP_CACHE: Final = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (endpoint_key TEXT PRIMARY KEY, etag TEXT, "
    "last_modified TEXT, sha256 TEXT, updated_at TEXT NOT NULL)"
)
_CHUNK: Final = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit
_UPSERT: Final = (
    f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?) ON CONFLICT(endpoint_key) DO "
    "UPDATE SET etag=excluded.etag, last_modified=excluded.last_modified, "
    "sha256=excluded.sha256, updated_at=excluded.updated_at"
)


class MemoryValidatorStore:
    def __init__(self) -> None:
        self.entries: dict[str, Validators] = {}

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        return {k: self.entries[k] for k in keys if k in self.entries}

    async def put_validators(self, entries: Mapping[str, Validators]) -> None:
        self.entries.update(entries)


def read_validators(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, Validators]:
    """The stored validators of those ``keys`` that have some."""
    out: dict[str, Validators] = {}
    for i in range(0, len(keys), _CHUNK):
        part = list(keys[i : i + _CHUNK])
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT endpoint_key, etag, last_modified, sha256 FROM {TABLE} "
            f"WHERE endpoint_key IN ({marks})",
            part,
        )
        for key, etag, modified, sha in rows:
            out[key] = Validators(etag, modified, sha)
    return out


def write_validators(conn: sqlite3.Connection, entries: Mapping[str, Validators]) -> None:
    """Upsert ``entries``; the caller owns the transaction."""
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = [(k, v.etag, v.last_modified, v.sha256, now) for k, v in entries.items()]
    conn.executemany(_UPSERT, rows)
