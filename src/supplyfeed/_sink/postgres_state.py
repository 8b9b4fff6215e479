"""State between runs in PostgreSQL: validators, page marks and incremental cursors.

The same three tables as the SQLite sink keeps (``sf_http_cache``, ``sf_page_marks``,
``sf_cursors``; see ``http_cache.py`` and ``feed_state.py``), so a PostgreSQL user gets
conditional requests, ``unchanged`` endpoints, paged-feed resume and incremental cursors
that survive the process. Every write is an idempotent upsert, so a transaction retried
after a lost connection cannot double anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final

from .._fetch.conditional import Validators
from .feed_state import CREATE_FEED_STATE, PageMark
from .http_cache import CREATE_HTTP_CACHE
from .postgres_load import Conn

__all__ = [
    "CREATE_STATE",
    "read_cursors",
    "read_page_marks",
    "read_validators",
    "write_cursors",
    "write_page_marks",
    "write_validators",
]

# The SQLite DDL is plain SQL that PostgreSQL takes as it is (text columns throughout).
CREATE_STATE: Final = (CREATE_HTTP_CACHE, *CREATE_FEED_STATE)

_UPSERT_VALIDATORS: Final = (
    "INSERT INTO sf_http_cache VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint_key) DO "
    "UPDATE SET etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified, "
    "sha256 = EXCLUDED.sha256, updated_at = EXCLUDED.updated_at"
)
_UPSERT_MARKS: Final = (
    "INSERT INTO sf_page_marks VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, feed_key) DO "
    "UPDATE SET next_index = EXCLUDED.next_index, next_url = EXCLUDED.next_url, "
    "updated_at = EXCLUDED.updated_at"
)
_UPSERT_CURSORS: Final = (
    "INSERT INTO sf_cursors VALUES ($1, $2, $3) ON CONFLICT (feed_key) DO "
    "UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at"
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


async def read_validators(conn: Conn, keys: Sequence[str]) -> dict[str, Validators]:
    rows = await conn.fetch(
        "SELECT endpoint_key, etag, last_modified, sha256 FROM sf_http_cache "
        "WHERE endpoint_key = ANY($1::text[])",
        list(keys),
    )
    return {r[0]: Validators(r[1], r[2], r[3]) for r in rows}


async def write_validators(conn: Conn, entries: Mapping[str, Validators]) -> None:
    now = _now()
    rows = [(k, v.etag, v.last_modified, v.sha256, now) for k, v in entries.items()]
    await conn.executemany(_UPSERT_VALIDATORS, rows)


async def read_page_marks(conn: Conn, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
    rows = await conn.fetch(
        "SELECT feed_key, next_index, next_url FROM sf_page_marks "
        "WHERE run_id = $1 AND feed_key = ANY($2::text[])",
        run_id,
        list(keys),
    )
    return {r[0]: PageMark(r[1], r[2]) for r in rows}


async def write_page_marks(conn: Conn, run_id: str, marks: Mapping[str, PageMark]) -> None:
    now = _now()
    rows = [(run_id, k, m.next_index, m.next_url, now) for k, m in marks.items()]
    await conn.executemany(_UPSERT_MARKS, rows)


async def read_cursors(conn: Conn, keys: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT feed_key, value FROM sf_cursors WHERE feed_key = ANY($1::text[])", list(keys)
    )
    return {r[0]: r[1] for r in rows}


async def write_cursors(conn: Conn, entries: Mapping[str, str]) -> None:
    now = _now()
    await conn.executemany(_UPSERT_CURSORS, [(k, v, now) for k, v in entries.items()])
