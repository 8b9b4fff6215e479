"""``supplyfeed validate FEEDS``: everything that can be checked without fetching.

1. the feeds file itself: YAML, keys, types, URLs, ``${ENV}`` references, mappings (all of
   :func:`~supplyfeed._feedsfile.load_feeds_file`'s checks, each naming file:line and key);
2. what a run would plan: endpoints per supplier, and URLs listed more than once;
3. local sources: the folder of every ``file://`` feed exists;
4. the sink can be reached, and nothing is created in it: SQLite's folder is writable and
   an existing file is a supplyfeed database of a schema this version reads; PostgreSQL
   accepts a connection and holds no newer schema.

Exit 0 (warnings allowed) or 2 with one ``error:`` line, like a bad ``run``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .._exceptions import ConfigError
from .._feedsfile import FeedsFile, load_feeds_file
from .._redact import redact_url
from .._run.plan import plan_endpoints
from .._sink.schema import SCHEMA_VERSION

__all__ = ["print_feeds_warnings", "validate_feeds"]

_CONNECT_TIMEOUT = 5.0


def print_feeds_warnings(feeds: FeedsFile) -> None:
    for warning in feeds.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def validate_feeds(path: Path, sink_override: str | None = None) -> int:
    feeds = load_feeds_file(path)
    print_feeds_warnings(feeds)
    _check_file_sources(feeds)
    sink = sink_override or feeds.sink
    where = asyncio.run(_check_sink(sink))
    planned = plan_endpoints(feeds.suppliers)
    n_feeds = sum(len(s.feeds) for s in feeds.suppliers)
    print(
        f"ok: {path}: {len(feeds.suppliers)} supplier(s), {n_feeds} feed(s), "
        f"{len(planned)} endpoint(s); sink {_shown(sink)}: {where}"
    )
    return 0


def _shown(url: str) -> str:
    """A sink URL for the screen: a PostgreSQL password is hidden; a SQLite path is kept
    as written (it holds no secret, and ``sqlite:////abs`` must stay absolute)."""
    return url if url.startswith(("sqlite:", "memory:")) else redact_url(url)


def _check_file_sources(feeds: FeedsFile) -> None:
    """A drop folder that does not exist would fail every run: an error now. A single
    file:// file not there yet is a warning (it may arrive before the run)."""
    for s in feeds.suppliers:
        for feed in s.feeds:
            for url in feed.urls:
                if not url.lower().startswith("file:"):
                    continue
                from .._fetch.drops import is_drop_pattern  # here: asyncssh only for drops

                path = Path(unquote(urlsplit(url).path))
                if is_drop_pattern(url) and not path.parent.is_dir():
                    raise ConfigError(
                        f"supplier {s.id}: drop folder {path.parent}/ of {url} does not exist",
                        location=feeds.path,
                    )
                if not is_drop_pattern(url) and not path.exists():
                    print(f"warning: supplier {s.id}: {path} does not exist (yet)", file=sys.stderr)


async def _check_sink(url: str) -> str:
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        return _check_sqlite(url)
    if scheme in ("postgresql", "postgres"):
        return await _check_postgres(url)
    if scheme == "memory":
        return "in memory (nothing is kept after the run)"
    raise ConfigError(
        f"unknown sink scheme {scheme!r} in {_shown(url)}: "
        "use sqlite:///, postgresql:// or memory://",
        key="sink",
    )


def _check_sqlite(url: str) -> str:
    from .._sink.sqlite import MEMORY, sqlite_path

    path = sqlite_path(url)
    if path == MEMORY:
        return "in memory (nothing is kept after the run)"
    db = Path(path)
    folder = db.parent
    if not folder.is_dir():
        raise ConfigError(f"the folder of the SQLite database {folder}/ does not exist")
    if not db.exists():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"cannot create the SQLite database in {folder}/: not writable")
        return "a new database will be created"
    if not os.access(db, os.R_OK | os.W_OK):
        raise ConfigError(f"the SQLite database {db} is not readable and writable")
    return _sqlite_version(db)


def _sqlite_version(db: Path) -> str:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            known = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sf_schema_version'"
            ).fetchone()
            found = (
                conn.execute("SELECT max(version) FROM sf_schema_version").fetchone()[0]
                if known
                else None
            )
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{db} is not a SQLite database: {exc}") from exc
    return _schema_note(str(db), found)


def _schema_note(where: str, found: int | None) -> str:
    if found is None:
        return "reachable; supplyfeed will create its tables"
    if found != SCHEMA_VERSION:
        when = "newer: upgrade supplyfeed" if found > SCHEMA_VERSION else "older: move it aside"
        raise ConfigError(
            f"{where} has schema version {found}, this supplyfeed uses {SCHEMA_VERSION} ({when})"
        )
    return f"reachable, schema version {found}"


async def _check_postgres(url: str) -> str:
    import asyncpg

    shown = redact_url(url)
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    try:
        conn = await asyncpg.connect(url, timeout=_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
        raise ConfigError(f"cannot connect to {where}: {reason or type(exc).__name__}") from exc
    except asyncpg.PostgresError as exc:
        raise ConfigError(f"{shown}: {exc}") from exc
    try:
        known = await conn.fetchval("SELECT to_regclass('sf_schema_version') IS NOT NULL")
        found = await conn.fetchval("SELECT max(version) FROM sf_schema_version") if known else None
    finally:
        await conn.close()
    return _schema_note(shown, found)
