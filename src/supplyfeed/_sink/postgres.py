"""The PostgreSQL sink: the same tables and load semantics as SQLite, written with asyncpg.

How a batch (one :meth:`PostgresSink.load` call) is written, in one transaction:

- the units are written by :mod:`.postgres_load`, each one under a savepoint, or small ones
  a group at a time under one (a group the server refuses is written again a unit at a
  time, to find the unit to quarantine); decoders run in worker threads, ahead of the
  writer; the replace/skip/stale decisions are the shared ones of :mod:`.semantics`, taken
  against ``sf_documents``, and the rows of the documents that win are COPied as text
  straight into the canonical tables, after a ``DELETE`` of the rows of the stored
  documents they replace;
- the ledger rows are upserted last, stamped with the batch's random token, then COMMIT.

Connection loss (a network drop, a server restart) anywhere in that sequence rolls the
transaction back on the server; the sink reconnects with backoff and runs the batch again,
decoding afresh. When the loss hit the COMMIT itself its outcome is unknown, so before
re-running, the ledger decides: if every unit's ``sf_endpoints`` row carries this batch's
token, the batch did commit and its stored rows are returned instead.

One run at a time: ``pg_try_advisory_lock`` on a connection of its own, held for the
sink's lifetime. The server drops the lock with the session, so a killed run never leaves a
stale lock. If that connection is lost the lock is taken again before the next write, or
the sink stops with :class:`RunLockedError` when another run got it meanwhile.

Storage values read back (:meth:`PostgresSink.table_rows`) are the SQLite ones (ISO text
for dates and timestamps, int or float quantities, sorted-key JSON text), so reports and
the reliability checker do not care which database they read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import asyncpg
import msgspec

from .._exceptions import ConfigError, PayloadError, RunLockedError, SinkError
from .._fetch.conditional import Validators
from .._formats.body import Body
from .._models import Document
from .._redact import redact_url
from . import postgres_state as state
from .base import (
    Conflict,
    DeadLetter,
    Endpoint,
    EndpointRecord,
    LoadUnit,
    Outcome,
    RequestTrace,
    RunRecord,
    Sighting,
)
from .dead_letter_sql import dead_letter_sql, spool_letter
from .feed_state import PageMark
from .ledger import (
    dead_letter_from_row,
    endpoint_row,
    mapping_text,
    record_from_row,
    run_from_row,
    run_row,
    sightings_by_letter,
)
from .postgres_load import Conn, Ledger, load_one, load_units
from .postgres_parts import read_conflicts, stored_values, sweep_source
from .postgres_state import CREATE_STATE
from .schema import (
    ADDED_COLUMNS,
    CANONICAL_TABLES,
    SCHEMA_VERSION,
    SF_DEAD_LETTER_SIGHTINGS,
    SF_DEAD_LETTERS,
    SF_ENDPOINTS,
    SF_RUNS,
    TRACED_TABLES,
    Row,
    Table,
    add_column_statement,
    create_statements,
    ddl_fingerprint,
)
from .semantics import (
    DEAD_LETTER_INLINE_MAX,
    loaded_record,
    quarantined_record,
    replay_unit,
)

__all__ = ["DEFAULT_DEAD_LETTER_DIR", "PostgresOptions", "PostgresSink"]

log = logging.getLogger("supplyfeed.sink.postgres")

T = TypeVar("T")

DEFAULT_DEAD_LETTER_DIR: Final = "./supplyfeed-dead-letters"


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# Advisory locks are per database, so one key serves every supplyfeed database of a server.
RUN_LOCK_KEY: Final = _advisory_key("supplyfeed:run")
_MIGRATE_LOCK_KEY: Final = _advisory_key("supplyfeed:migrate")

# -- SQL ------------------------------------------------------------------------------------

# What SQLite's rowid gives for free: the insertion order that listings of runs and
# endpoints follow. ``load_token`` is the batch token the ledger is asked about after a
# COMMIT whose outcome was lost (see the module docstring).
_PG_ONLY: Final = (
    "ALTER TABLE sf_runs ADD COLUMN IF NOT EXISTS sf_seq bigserial",
    "ALTER TABLE sf_endpoints ADD COLUMN IF NOT EXISTS sf_seq bigserial",
    "ALTER TABLE sf_endpoints ADD COLUMN IF NOT EXISTS load_token text",
    *(add_column_statement(t, c, "postgresql") for t, c in ADDED_COLUMNS),
)


_DDL: Final = (*create_statements("postgresql"), *_PG_ONLY, *CREATE_STATE)
# What the migration leaves on sf_schema_version once its DDL ran (schema.ddl_fingerprint);
# the dedup step is named too, since it is part of what ran.
_DDL_MARK: Final = f"supplyfeed ddl {ddl_fingerprint((*_DDL, 'deduplicate_items = off'))}"
_READ_MARK: Final = "SELECT obj_description(to_regclass('sf_schema_version'), 'pg_class')"


# Deduplication packs equal keys of a B-tree into one entry. A unique index only has equal
# keys while a replaced row's old version is not yet vacuumed, which is exactly when a
# document is replaced (DELETE, then COPY of the same keys, in one transaction): every full
# leaf page then runs a deduplication pass (and a bottom-up deletion one) that cannot free
# anything, since the deleting transaction is ours and still open. Off, the server spends
# half the time replacing a document (measured: 16 -> 7 us a row).
_DEDUP_ON: Final = (
    "SELECT i.indexrelid::regclass::text FROM pg_index i "
    "WHERE i.indisprimary AND i.indrelid = ANY(SELECT to_regclass(n) FROM unnest($1::text[]) n) "
    "AND NOT coalesce(("
    "SELECT c.reloptions FROM pg_class c WHERE c.oid = i.indexrelid"
    ") @> ARRAY['deduplicate_items=off'], false)"
)


def _session_statements(conn: Conn) -> list[str]:
    """What a new writer session runs first: custom plans (12+).

    asyncpg prepares every statement, and a generic plan, made while the tables are
    small, would join a lookup's key array by scanning sf_documents (or a DELETE's, a
    canonical table) for the session's life; a custom plan sees the array and the table
    as they are."""
    custom = ["SET plan_cache_mode = force_custom_plan"]
    return custom if conn.get_server_version().major >= 12 else []


def _placeholders(n: int) -> str:
    return ", ".join(f"${i + 1}" for i in range(n))


_ENDPOINT_COLUMNS: Final = (*SF_ENDPOINTS.column_names, "load_token")
_UPSERT_ENDPOINT: Final = (
    f"INSERT INTO sf_endpoints ({', '.join(_ENDPOINT_COLUMNS)}) "
    f"VALUES ({_placeholders(len(_ENDPOINT_COLUMNS))}) "
    "ON CONFLICT (run_id, endpoint_key) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ENDPOINT_COLUMNS[2:])
)
_INSERT_ENDPOINT: Final = (
    f"INSERT INTO sf_endpoints ({', '.join(SF_ENDPOINTS.column_names)}) "
    f"VALUES ({_placeholders(len(SF_ENDPOINTS.columns))}) ON CONFLICT DO NOTHING"
)
_START_RUN: Final = (
    f"INSERT INTO sf_runs ({', '.join(SF_RUNS.column_names)}) "
    f"VALUES ({_placeholders(len(SF_RUNS.columns))}) "
    "ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, "
    "finished_at = EXCLUDED.finished_at"
)
_DEAD_LETTER_COLUMNS: Final = SF_DEAD_LETTERS.column_names[1:]  # id is assigned
_INSERT_DEAD_LETTER: Final = (
    f"INSERT INTO sf_dead_letters ({', '.join(_DEAD_LETTER_COLUMNS)}) "
    f"VALUES ({_placeholders(len(_DEAD_LETTER_COLUMNS))})"
)
_DL: Final = dead_letter_sql("postgresql")
_COMMITTED: Final = (
    "SELECT e.* FROM sf_endpoints e JOIN unnest($1::text[], $2::text[]) AS u(r, k) "
    "ON e.run_id = u.r AND e.endpoint_key = u.k WHERE e.load_token = $3"
)


def _select(table: Table) -> str:
    return f"SELECT {', '.join(table.column_names)} FROM {table.name}"


# -- values in and out ----------------------------------------------------------------------


def _to_pg(table: Table, row: Row) -> Row:
    """A ledger row in the shared (SQLite) storage values -> asyncpg parameter values."""
    out = list(row)
    for i, col in enumerate(table.columns):
        value = out[i]
        if value is None:
            continue
        if col.type == "timestamp" and isinstance(value, str):
            out[i] = dt.datetime.fromisoformat(value)
        elif col.type == "date" and isinstance(value, str):
            out[i] = dt.date.fromisoformat(value)
        elif col.type == "bool":
            out[i] = bool(value)
    return tuple(out)


_json_encode = msgspec.json.Encoder(order="sorted").encode


def _from_pg(table: Table, record: asyncpg.Record) -> dict[str, Any]:
    """An asyncpg record -> the storage values SQLite returns (see the module docstring)."""
    return stored_values(table, record)


def _refused(url: str) -> str:
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    return f"cannot connect to {where}: connection refused; is the server running?"


def _is_disconnect(exc: BaseException, conn: Conn | None) -> bool:
    """Whether ``exc`` means the session is gone (retry on a new one), not a refusal."""
    if isinstance(
        exc,
        OSError
        | TimeoutError
        | asyncpg.PostgresConnectionError  # class 08, and "connection was closed"
        | asyncpg.exceptions.OperatorInterventionError,  # 57: shutdown, restart, starting up
    ):
        return True
    # A message the protocol did not expect (the server's FATAL farewell arriving between
    # two statements) leaves asyncpg refusing the next one with an InternalClientError:
    # once the session is closed, that is a lost session too.
    gone = conn is None or conn.is_closed()
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError) and gone


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- the sink -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    """How a :class:`PostgresSink` connects, reconnects and writes.

    - ``dead_letter_dir``: where dead letters larger than ``DEAD_LETTER_INLINE_MAX`` are
      spooled (content-addressed files; the database keeps their name);
    - ``chunk_rows``: rows a COPY sends at once;
    - ``connect_timeout``: seconds to open one connection;
    - ``relock_wait``: seconds to wait for the run lock again after its connection was lost;
    - after a lost connection an operation is tried ``max_attempts`` times in all, sleeping
      ``backoff`` seconds, doubling up to ``max_backoff``.
    """

    dead_letter_dir: str | Path = DEFAULT_DEAD_LETTER_DIR
    chunk_rows: int = 50_000
    connect_timeout: float = 10.0
    relock_wait: float = 10.0
    max_attempts: int = 6
    backoff: float = 0.25
    max_backoff: float = 5.0


class PostgresSink:
    """The :class:`~supplyfeed._sink.base.Sink` on one PostgreSQL database.

    ``options`` are the connection, reconnection and spooling settings
    (:class:`PostgresOptions`). ``lock=False`` opens without the one-run-at-a-time lock,
    for read-only commands; ``sleep`` (the wait between reconnections) is injectable so
    tests need not wait.
    """

    def __init__(
        self,
        url: str,
        options: PostgresOptions | None = None,
        *,
        lock: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.options = options or PostgresOptions()
        self.dead_letter_dir = Path(self.options.dead_letter_dir)
        self._use_lock = lock
        self._sleep = sleep
        self._conn: Conn | None = None
        self._lock_conn: Conn | None = None
        self._mutex = asyncio.Lock()  # one operation at a time on the one connection
        self._opened = False

    async def __aenter__(self) -> PostgresSink:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- connections ---------------------------------------------------------------------

    async def _connect(self, purpose: str) -> Conn:
        try:
            return await asyncpg.connect(
                self.url,
                timeout=self.options.connect_timeout,
                server_settings={"application_name": f"supplyfeed {purpose}"},
            )
        except asyncpg.InvalidCatalogNameError as exc:
            raise SinkError(f"{redact_url(self.url)}: {exc} (create the database first)") from exc
        except asyncpg.InvalidAuthorizationSpecificationError as exc:
            raise SinkError(f"{redact_url(self.url)}: {exc}") from exc
        except ConnectionRefusedError as exc:
            if self._opened:
                raise  # mid-run the server may be restarting: _retrying reconnects
            # Nothing listens: retrying for seconds ("lock: connection lost; retry") only
            # hides that the URL or the server is wrong.
            raise ConfigError(_refused(self.url)) from exc

    async def open(self) -> None:
        if self._opened:
            return
        try:
            if self._use_lock:
                await self._retrying(lambda: self._take_lock(wait=0.0), "lock")
            await self._retrying(self._migrate, "migrate")
        except BaseException:
            await self._disconnect()
            raise
        self._opened = True

    async def close(self) -> None:
        self._opened = False
        await self._disconnect()

    async def _disconnect(self) -> None:
        conns = [self._conn, self._lock_conn]
        self._conn = self._lock_conn = None
        for conn in conns:
            await _close(conn)

    async def _session(self) -> Conn:
        """The write connection, reconnected (and the run lock retaken) when lost."""
        if self._use_lock and (self._lock_conn is None or self._lock_conn.is_closed()):
            await _close(self._lock_conn)
            self._lock_conn = None
            await self._take_lock(wait=self.options.relock_wait)
        if self._conn is None or self._conn.is_closed():
            await _close(self._conn)
            self._conn = None
            conn = await self._connect("writer")
            try:
                for statement in _session_statements(conn):
                    await conn.execute(statement)
            except BaseException:
                await _close(conn)
                raise
            self._conn = conn
        return self._conn

    async def _take_lock(self, *, wait: float) -> None:
        """Take the run lock; ``wait`` > 0 after a lost connection, while the server may
        not yet have ended the session that held it for us."""
        conn = await self._connect("run lock")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RUN_LOCK_KEY):
                if loop.time() >= deadline:
                    holder = await conn.fetchval(
                        "SELECT a.pid::text || ' (' || coalesce(a.application_name, '?') || "
                        "', ' || coalesce(a.client_addr::text, 'local') || ')' "
                        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database()) "
                        "AND (l.classid::bigint << 32 | l.objid::bigint) = $1",
                        RUN_LOCK_KEY & 0xFFFFFFFFFFFFFFFF,
                    )
                    raise RunLockedError(
                        f"another supplyfeed run (backend {holder or 'unknown'}) holds "
                        f"{redact_url(self.url)}; wait for it to finish, or use a read-only command"
                    )
                await asyncio.sleep(0.05)  # real time: the server is ending a session
        except BaseException:
            await _close(conn)
            raise
        self._lock_conn = conn

    async def _migrate(self) -> None:
        """The schema, written only when ``sf_schema_version`` does not carry this build's
        DDL mark: a database this build already set up costs one query to open, not the
        ~70 DDL statements (each a round trip and a catalog lock)."""
        conn = await self._session()
        if await conn.fetchval(_READ_MARK) == _DDL_MARK:
            return
        async with conn.transaction():
            # Two processes opening a new database at once must not race on CREATE TABLE.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK_KEY)
            await self._refuse_old_schema(conn)
            for statement in _DDL:
                await conn.execute(statement)
            if conn.get_server_version().major >= 13:  # deduplication came with 13
                names = [t.name for t in CANONICAL_TABLES]
                for index in await conn.fetch(_DEDUP_ON, names):
                    await conn.execute(f"ALTER INDEX {index[0]} SET (deduplicate_items = off)")
            found = await conn.fetchval("SELECT max(version) FROM sf_schema_version")
            if found is not None and found > SCHEMA_VERSION:
                raise SinkError(
                    f"{redact_url(self.url)} has schema version {found}; this supplyfeed knows "
                    f"{SCHEMA_VERSION}: upgrade supplyfeed"
                )
            if found is None:
                await conn.execute(
                    "INSERT INTO sf_schema_version VALUES ($1, $2)",
                    SCHEMA_VERSION,
                    _now().isoformat(),
                )
            await conn.execute(f"COMMENT ON TABLE sf_schema_version IS '{_DDL_MARK}'")

    async def _refuse_old_schema(self, conn: Conn) -> None:
        """A database of schema version 1 (before snapshot parts and conflicts): refused
        before any CREATE runs, as on SQLite (its tables lack the new columns)."""
        if await conn.fetchval("SELECT to_regclass('sf_schema_version')") is None:
            return
        found = await conn.fetchval("SELECT max(version) FROM sf_schema_version")
        if found is not None and found < SCHEMA_VERSION:
            raise SinkError(
                f"{redact_url(self.url)} has schema version {found}, from a supplyfeed before "
                f"snapshot parts and conflicts (version {SCHEMA_VERSION}); it cannot be "
                "migrated in place: drop or rename the database and run again to re-create it"
            )

    async def _retrying(
        self,
        op: Callable[[], Awaitable[T]],
        what: str,
        committed: Callable[[Conn], Awaitable[T | None]] | None = None,
    ) -> T:
        """Run ``op``; on a lost session reconnect with backoff and run it again.

        ``committed`` is asked first on every retry: it returns the result when the
        previous attempt did commit (the connection died while COMMIT was in flight)."""
        opts = self.options
        delay = opts.backoff
        for attempt in range(1, opts.max_attempts + 1):
            try:
                if attempt > 1 and committed is not None:
                    done = await committed(await self._session())
                    if done is not None:
                        log.info("%s: the interrupted COMMIT had succeeded", what)
                        return done
                return await op()
            except (PayloadError, SinkError):
                raise
            except Exception as exc:
                if not _is_disconnect(exc, self._conn):
                    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
                        raise SinkError(
                            f"PostgreSQL error on {redact_url(self.url)} during {what}: {exc} "
                            "(the transaction was rolled back)"
                        ) from exc
                    raise
                await _close(self._conn)
                self._conn = None
                if attempt == opts.max_attempts:
                    raise SinkError(
                        f"lost the connection to {redact_url(self.url)} during {what} "
                        f"{attempt} times; nothing uncommitted was kept: {exc}"
                    ) from exc
                log.warning(
                    "%s: connection to %s lost (%s); retry %d in %.2fs",
                    what,
                    redact_url(self.url),
                    exc,
                    attempt,
                    delay,
                )
                await self._sleep(delay)
                delay = min(delay * 2, opts.max_backoff)
        raise AssertionError("unreachable")

    async def _write(
        self,
        body: Callable[[Conn], Awaitable[T]],
        what: str,
        committed: Callable[[Conn], Awaitable[T | None]] | None = None,
    ) -> T:
        """One transaction, retried whole after a lost connection."""

        async def attempt() -> T:
            conn = await self._session()
            transaction = conn.transaction()
            await transaction.start()
            try:
                result = await body(conn)
            except BaseException:
                if not conn.is_closed():
                    try:
                        await transaction.rollback()
                    except Exception:  # the session is unusable: start a new one
                        conn.terminate()
                raise
            await transaction.commit()
            return result

        return await self._retrying(attempt, what, committed)

    async def _read(self, body: Callable[[Conn], Awaitable[T]], what: str) -> T:
        async def attempt() -> T:
            return await body(await self._session())

        return await self._retrying(attempt, what)

    def _check_open(self) -> None:
        if not self._opened:
            raise SinkError(f"the PostgreSQL sink {redact_url(self.url)} is not open")

    # -- runs and the ledger -------------------------------------------------------------

    async def start_run(self, run: RunRecord, endpoints: Sequence[Endpoint]) -> None:
        self._check_open()
        run_values = _to_pg(SF_RUNS, run_row(run))
        rows = [
            _to_pg(SF_ENDPOINTS, endpoint_row(run.run_id, EndpointRecord(e, Outcome.PENDING)))
            for e in endpoints
        ]

        async def body(conn: Conn) -> None:
            await conn.execute(_START_RUN, *run_values)
            if rows:
                await conn.executemany(_INSERT_ENDPOINT, rows)

        async with self._mutex:
            await self._write(body, "start_run")

    async def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self._check_open()
        text = _json_encode(summary).decode()

        async def body(conn: Conn) -> str:
            return await conn.execute(
                "UPDATE sf_runs SET status = $1, finished_at = $2, summary = $3 WHERE run_id = $4",
                status,
                _now(),
                text,
                run_id,
            )

        async with self._mutex:
            result = await self._write(body, "finish_run")
        if result.endswith(" 0"):
            raise SinkError(f"no run {run_id!r} in {redact_url(self.url)}")

    async def get_run(self, run_id: str | None = None) -> RunRecord | None:
        self._check_open()
        args: tuple[str, ...] = ()
        if run_id is None:
            sql = f"{_select(SF_RUNS)} ORDER BY sf_seq DESC LIMIT 1"
        else:
            sql, args = f"{_select(SF_RUNS)} WHERE run_id = $1", (run_id,)

        async def body(conn: Conn) -> asyncpg.Record | None:
            return await conn.fetchrow(sql, *args)

        async with self._mutex:
            row = await self._read(body, "get_run")
        return None if row is None else run_from_row(_ledger(SF_RUNS, row))

    async def record(self, records: Sequence[EndpointRecord], run_id: str) -> None:
        self._check_open()
        rows = [(*_to_pg(SF_ENDPOINTS, endpoint_row(run_id, r)), None) for r in records]
        if not rows:
            return

        async def body(conn: Conn) -> None:
            await conn.executemany(_UPSERT_ENDPOINT, rows)

        async with self._mutex:
            await self._write(body, "record")

    async def endpoints(self, run_id: str) -> list[EndpointRecord]:
        self._check_open()

        async def body(conn: Conn) -> list[asyncpg.Record]:
            sql = f"{_select(SF_ENDPOINTS)} WHERE run_id = $1 ORDER BY sf_seq"
            return await conn.fetch(sql, run_id)

        async with self._mutex:
            rows = await self._read(body, "endpoints")
        return [record_from_row(_ledger(SF_ENDPOINTS, r)) for r in rows]

    # -- state between runs: validators, page marks, cursors (postgres_state.py) ----------

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        return await self._state_read(state.read_validators, list(keys))

    async def put_validators(self, entries: Mapping[str, Validators]) -> None:
        await self._state_write(state.write_validators, dict(entries))

    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        def read(conn: Conn, wanted: list[str]) -> Awaitable[dict[str, PageMark]]:
            return state.read_page_marks(conn, run_id, wanted)

        return await self._state_read(read, list(keys))

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None:
        def write(conn: Conn, entries: dict[str, PageMark]) -> Awaitable[None]:
            return state.write_page_marks(conn, run_id, entries)

        await self._state_write(write, dict(marks))

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        return await self._state_read(state.read_cursors, list(keys))

    async def put_cursors(self, entries: Mapping[str, str]) -> None:
        await self._state_write(state.write_cursors, dict(entries))

    async def _state_read(
        self, read: Callable[[Conn, list[str]], Awaitable[dict[str, T]]], keys: list[str]
    ) -> dict[str, T]:
        self._check_open()
        if not keys:
            return {}
        async with self._mutex:
            return await self._read(lambda conn: read(conn, keys), "state read")

    async def _state_write(
        self, write: Callable[[Conn, dict[str, T]], Awaitable[None]], entries: dict[str, T]
    ) -> None:
        self._check_open()
        if not entries:
            return
        async with self._mutex:  # upserts: a retry after a lost session writes the same
            await self._write(lambda conn: write(conn, entries), "state write")

    # -- data ----------------------------------------------------------------------------

    async def load(self, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
        self._check_open()
        if not units:
            return []
        token = uuid.uuid4().hex

        async def body(conn: Conn) -> list[EndpointRecord]:
            finals = []
            ledger = Ledger(units[0].run_id)
            outcomes = await load_units(conn, units, self.options.chunk_rows, ledger)
            for unit, outcome in zip(units, outcomes, strict=True):
                if isinstance(outcome, PayloadError):
                    known = await self._store_dead_letter(conn, unit, outcome)
                    finals.append(quarantined_record(unit, outcome, known))
                else:
                    finals.append(loaded_record(unit, outcome))
            await conn.executemany(
                _UPSERT_ENDPOINT,
                [
                    (*_to_pg(SF_ENDPOINTS, endpoint_row(u.run_id, f)), token)
                    for u, f in zip(units, finals, strict=True)
                ],
            )
            return finals

        async def committed(conn: Conn) -> list[EndpointRecord] | None:
            return await self._committed(conn, units, token)

        async with self._mutex:
            finals = await self._write(body, "load", committed)
        for unit, final in zip(units, finals, strict=True):
            unit.record = final  # only once committed: the caller sees what is stored
        return finals

    async def _committed(
        self, conn: Conn, units: Sequence[LoadUnit], token: str
    ) -> list[EndpointRecord] | None:
        """The stored ledger rows of ``units`` if the batch ``token`` committed, else None."""
        rows = await conn.fetch(
            _COMMITTED, [u.run_id for u in units], [u.record.endpoint.key for u in units], token
        )
        found = {(r["run_id"], r["endpoint_key"]): r for r in rows}
        if len(found) < len({(u.run_id, u.record.endpoint.key) for u in units}):
            return None
        return [
            record_from_row(_ledger(SF_ENDPOINTS, found[(u.run_id, u.record.endpoint.key)]))
            for u in units
        ]

    async def finish_source(self, run_id: str, source: str) -> int:
        """A paged source's delivery in ``run_id`` is complete (docs/contract.md §6): its lines from
        pages this delivery did not bring go, and shadows take their place."""
        self._check_open()

        async def body(conn: Conn) -> int:
            return await sweep_source(conn, run_id, source)

        async with self._mutex:  # plan_sweep on what is stored: a retry sweeps the same
            return await self._write(body, "finish_source")

    async def checkpoint(self) -> None:
        """Nothing to do: there is no write-ahead log of ours to fold in."""

    async def conflicts(self, run_id: str | None = None) -> list[Conflict]:
        """The conflicts stored (``sf_conflicts``), of one run or of all."""
        self._check_open()

        async def body(conn: Conn) -> list[Conflict]:
            return await read_conflicts(conn, run_id)

        async with self._mutex:
            return await self._read(body, "conflicts")

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        self._check_open()
        spec = next((t for t in CANONICAL_TABLES if t.name == table), None)
        if spec is None:
            names = ", ".join(t.name for t in CANONICAL_TABLES)
            raise SinkError(f"unknown table {table!r}; canonical tables: {names}")
        types = {c.name: c.type for c in spec.columns}
        # COLLATE "C": the byte order SQLite uses, whatever the database's collation.
        order = ", ".join(f'{c} COLLATE "C"' if types[c] == "text" else c for c in spec.primary_key)

        async def body(conn: Conn) -> list[asyncpg.Record]:
            return await conn.fetch(f"{_select(spec)} ORDER BY {order}")

        async with self._mutex:
            rows = await self._read(body, "table_rows")
        return [_from_pg(spec, r) for r in rows]

    # -- dead letters --------------------------------------------------------------------

    async def _store_dead_letter(self, conn: Conn, unit: LoadUnit, err: PayloadError) -> int | None:
        """Store a new letter (None), or a sighting of the open one with these bytes (its id)."""
        body, ep = unit.body, unit.record.endpoint
        found = await conn.fetchval(_DL.open_letter, ep.key, body.sha256)
        if found is not None:  # the same bytes again: one more sighting, not another copy
            await conn.execute(_DL.seen_again, found, unit.run_id, unit.record.request_id, _now())
            await conn.execute(_DL.letter_error, err.kind, err.where, err.message, found)
            return int(found)
        spool = body.size > DEAD_LETTER_INLINE_MAX
        try:
            blob = None if spool else await asyncio.to_thread(body.read)
            path = await asyncio.to_thread(self._spool, body) if spool else None
        except OSError as exc:
            raise SinkError(
                f"cannot spool a dead letter to {self.dead_letter_dir}: {exc} "
                "(nothing of this batch was committed)"
            ) from exc
        await conn.execute(
            _INSERT_DEAD_LETTER,
            *(unit.run_id, ep.key, ep.supplier_id, ep.kind.value, ep.format, ep.url),
            *(unit.record.request_id, err.kind, err.where, err.message),
            *(body.size, body.sha256, _now(), None, blob, path, mapping_text(unit.mapping)),
        )
        return None

    def _spool(self, body: Body) -> str:
        """The letter's spool file in ``dead_letter_dir``, as an absolute path: the row must
        find it whatever directory a later ``dead-letters`` or ``replay`` runs from."""
        return str(spool_letter(body, self.dead_letter_dir.resolve()))

    def _body(self, row: Mapping[str, Any]) -> Body:
        if row["body"] is not None:
            return Body(data=bytes(row["body"]), sha256=row["sha256"])
        # Absolute since the path of the run's folder is stored; a bare name (older rows)
        # is relative to this sink's folder.
        path = self.dead_letter_dir / row["body_path"]
        if not path.exists():
            raise SinkError(f"dead letter {row['id']}: its spool file {path} is missing")
        return Body(path=path, sha256=row["sha256"])

    def _letter(self, row: asyncpg.Record, sightings: Sequence[Sighting] = ()) -> DeadLetter:
        plain = _ledger(SF_DEAD_LETTERS, row)
        return dead_letter_from_row(plain, self._body(plain), sightings)

    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        self._check_open()
        where = "" if include_resolved else " WHERE d.resolved_at IS NULL"

        async def body(conn: Conn) -> list[DeadLetter]:
            return await self._letters(conn, where)

        async with self._mutex:
            return await self._read(body, "dead_letters")

    async def _letters(self, conn: Conn, where: str, *params: Any) -> list[DeadLetter]:
        """The letters ``where`` selects (alias ``d``), with their sightings."""
        letters = await conn.fetch(f"{_select(SF_DEAD_LETTERS)} d{where} ORDER BY id", *params)
        seen_rows = await conn.fetch(_DL.sightings(where), *params)
        seen = sightings_by_letter(_ledger(SF_DEAD_LETTER_SIGHTINGS, r) for r in seen_rows)
        return [self._letter(r, seen.get(r["id"], ())) for r in letters]

    async def trace(self, request_id: str) -> RequestTrace:
        self._check_open()

        async def body(conn: Conn) -> RequestTrace:
            ledger = await conn.fetch(
                f"{_select(SF_ENDPOINTS)} WHERE request_id = $1 ORDER BY sf_seq", request_id
            )
            rows = {
                t: await conn.fetchval(
                    f"SELECT count(*) FROM {t} WHERE request_id = $1", request_id
                )
                for t in TRACED_TABLES
            }
            return RequestTrace(
                request_id,
                [(r["run_id"], record_from_row(_ledger(SF_ENDPOINTS, r))) for r in ledger],
                await self._letters(conn, _DL.by_request, request_id),
                rows,
            )

        async with self._mutex:
            return await self._read(body, "trace")

    async def replay(
        self, dead_letter_id: int, documents: Callable[[Body], Iterator[Document]]
    ) -> EndpointRecord:
        self._check_open()
        token = uuid.uuid4().hex
        units: list[LoadUnit] = []

        async def body(conn: Conn) -> EndpointRecord | PayloadError:
            row = await conn.fetchrow(
                f"{_select(SF_DEAD_LETTERS)} WHERE id = $1 FOR UPDATE", dead_letter_id
            )
            if row is None:
                raise SinkError(f"no dead letter {dead_letter_id} in {redact_url(self.url)}")
            letter = self._letter(row)
            stored = await conn.fetchrow(
                f"{_select(SF_ENDPOINTS)} WHERE run_id = $1 AND endpoint_key = $2",
                letter.run_id,
                letter.endpoint_key,
            )
            record = None if stored is None else record_from_row(_ledger(SF_ENDPOINTS, stored))
            unit = replay_unit(letter, record, documents)
            units[:] = [unit]
            outcome = await load_one(conn, unit, self.options.chunk_rows, Ledger(unit.run_id))
            if isinstance(outcome, PayloadError):
                error = (outcome.kind, outcome.where, outcome.message, letter.id)
                await conn.execute(_DL.letter_error, *error)
                return outcome
            final = loaded_record(unit, outcome)
            await conn.execute(
                _UPSERT_ENDPOINT, *_to_pg(SF_ENDPOINTS, endpoint_row(unit.run_id, final)), token
            )
            await conn.execute(
                "UPDATE sf_dead_letters SET resolved_at = $1 WHERE id = $2", _now(), letter.id
            )
            return final

        async def committed(conn: Conn) -> EndpointRecord | PayloadError | None:
            if not units:
                return None
            finals = await self._committed(conn, units, token)
            return None if finals is None else finals[0]

        async with self._mutex:
            outcome = await self._write(body, "replay", committed)
        if isinstance(outcome, PayloadError):
            raise outcome
        return outcome


def _ledger(table: Table, record: asyncpg.Record) -> dict[str, Any]:
    """A ledger row as :mod:`.ledger` reads it: timestamps as ISO text, JSON as text."""
    return _from_pg(table, record)


async def _close(conn: Conn | None) -> None:
    if conn is None or conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except Exception:  # a session already half gone: drop it without the goodbye
        conn.terminate()
