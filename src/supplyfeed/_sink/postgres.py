"""The PostgreSQL sink: the same tables and load semantics as SQLite, written with asyncpg.

How a batch (one :meth:`PostgresSink.load` call) is written, in one transaction:

- every unit runs under a savepoint; its decoder is iterated in a worker thread, a chunk of
  documents at a time (decoding is CPU work and must not stall the event loop), while the
  loop writes the previous chunk;
- the replace/skip/stale decisions are the shared ones of :mod:`.semantics`, taken against
  ``sf_documents`` (looked up once per chunk, not once per document);
- the rows of the documents that win are COPied into a temporary staging table, then moved
  with one ``INSERT … SELECT`` per table, after a ``DELETE`` of the rows of the stored
  documents they replace; ``sf_documents`` and the ledger take ``INSERT … ON CONFLICT``.
  Every line key extends its document key and the replaced document's rows are gone, so a
  unique violation can only be a duplicate line inside one document: it becomes the same
  ``constraint`` quarantine as on SQLite (see :func:`_insert_from_stage` for why the
  canonical INSERT has no ON CONFLICT clause);
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
import decimal
import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeAlias, TypeVar

import asyncpg
import msgspec

from .._exceptions import PayloadError, RunLockedError, SinkError
from .._formats.body import Body
from .._models import Document, InventorySnapshot
from .base import DeadLetter, Endpoint, EndpointRecord, LoadUnit, Outcome, RunRecord
from .ledger import (
    dead_letter_from_row,
    endpoint_row,
    record_from_row,
    run_from_row,
    run_row,
)
from .schema import (
    CANONICAL_TABLES,
    SCHEMA_VERSION,
    SF_DEAD_LETTERS,
    SF_DOCUMENTS,
    SF_ENDPOINTS,
    SF_RUNS,
    TABLES,
    Column,
    DocHasher,
    DocSpec,
    Row,
    Table,
    Version,
    codes_text,
    create_statements,
    doc_key_text,
    line_rows,
    rows_for,
    timestamp_text,
    version_of,
)
from .semantics import (
    DEAD_LETTER_INLINE_MAX,
    Decision,
    StoredDoc,
    UnitStats,
    decide,
    group_documents,
    guarded,
    is_stale_version,
    loaded_record,
    quarantined_record,
    replay_unit,
)

__all__ = ["DEFAULT_DEAD_LETTER_DIR", "PostgresSink"]

log = logging.getLogger("supplyfeed.sink.postgres")

T = TypeVar("T")
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
Ident: TypeAlias = tuple[str, str]  # (doc_type, doc_key) in sf_documents

DEFAULT_DEAD_LETTER_DIR: Final = "./supplyfeed-dead-letters"


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# Advisory locks are per database, so one key serves every supplyfeed database of a server.
RUN_LOCK_KEY: Final = _advisory_key("supplyfeed:run")
_MIGRATE_LOCK_KEY: Final = _advisory_key("supplyfeed:migrate")

# -- SQL ------------------------------------------------------------------------------------

# Staging tables hold what the row builders produce: ISO text for dates and timestamps and
# JSON text (cast on the way into the canonical table, on the server), quantities as sent.
_STAGE_TYPES: Final = {
    "text": "text",
    "date": "text",
    "timestamp": "text",
    "json": "text",
    "int": "bigint",
    "real": "double precision",
    "numeric": "numeric",
    "bool": "boolean",
    "blob": "bytea",
}
_CASTS: Final = {"date": "::date", "timestamp": "::timestamptz", "json": "::jsonb"}
_PROVENANCE: Final = ("run_id", "source_url", "request_id")

# What SQLite's rowid gives for free: the insertion order that listings of runs and
# endpoints follow. ``load_token`` is the batch token the ledger is asked about after a
# COMMIT whose outcome was lost (see the module docstring).
_PG_ONLY: Final = (
    "ALTER TABLE sf_runs ADD COLUMN IF NOT EXISTS sf_seq bigserial",
    "ALTER TABLE sf_endpoints ADD COLUMN IF NOT EXISTS sf_seq bigserial",
    "ALTER TABLE sf_endpoints ADD COLUMN IF NOT EXISTS load_token text",
)


def _stage(table: Table) -> str:
    return f"sf_stage_{table.name}"


def _create_stage(table: Table) -> str:
    cols = ", ".join(f"{c.name} {_STAGE_TYPES[c.type]}" for c in table.columns)
    return f"CREATE TEMP TABLE IF NOT EXISTS {_stage(table)} ({cols})"


def _insert_from_stage(table: Table) -> str:
    """Staged rows into the canonical table, casting text to its column type on the
    server; provenance is the same for every row of a unit, so it comes as $1..$3.

    A plain INSERT, without ON CONFLICT: the stored rows of every document being
    replaced were deleted just before, and every line key extends its document's key, so
    a conflict can only be a duplicate line inside one document, which must quarantine
    the payload (as on SQLite) rather than keep one of the two lines. ON CONFLICT DO
    UPDATE would refuse that too, but it costs twice the server time (speculative
    insertion: 30 s against 14 s for 1M rows on this machine)."""

    def value(col: Column) -> str:
        if col.name in _PROVENANCE:
            return f"${_PROVENANCE.index(col.name) + 1}"
        return f"s.{col.name}{_CASTS.get(col.type, '')}"

    return (
        f"INSERT INTO {table.name} ({', '.join(table.column_names)}) "
        f"SELECT {', '.join(value(c) for c in table.columns)} FROM {_stage(table)} s"
    )


def _delete_docs(table: Table, key_columns: tuple[str, ...]) -> str:
    """Delete every row of the documents whose keys arrive as parallel text arrays."""
    types = {c.name: c.type for c in table.columns}
    arrays = ", ".join(f"${i + 1}::text[]" for i in range(len(key_columns)))
    casts = ", ".join(f"u{i}{_CASTS.get(types[k], '')}" for i, k in enumerate(key_columns))
    names = ", ".join(f"u{i}" for i in range(len(key_columns)))
    return (
        f"DELETE FROM {table.name} WHERE ({', '.join(key_columns)}) IN "
        f"(SELECT {casts} FROM unnest({arrays}) AS u({names}))"
    )


_INSERT_SQL: Final = {t.name: _insert_from_stage(t) for t in CANONICAL_TABLES}
_LOOKUP_DOCS: Final = (
    "SELECT d.doc_type, d.doc_key, d.issued_at, d.control_number, d.content_hash "
    "FROM sf_documents d JOIN unnest($1::text[], $2::text[]) AS u(t, k) "
    "ON d.doc_type = u.t AND d.doc_key = u.k"
)
_UPSERT_DOCS: Final = (
    f"INSERT INTO sf_documents ({', '.join(SF_DOCUMENTS.column_names)}) "
    "SELECT t, k, i::timestamptz, c, h, j::jsonb, $7, $8, $9 FROM unnest("
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) "
    "AS u(t, k, i, c, h, j) ON CONFLICT (doc_type, doc_key) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SF_DOCUMENTS.column_names[2:])
)


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


_json_decode = msgspec.json.decode
_json_encode = msgspec.json.Encoder(order="sorted").encode


def _from_pg(table: Table, record: asyncpg.Record) -> dict[str, Any]:
    """An asyncpg record -> the storage values SQLite returns (see the module docstring)."""
    out = dict(record.items())
    for col in table.columns:
        value = out.get(col.name)
        if value is None:
            continue
        if col.type == "timestamp":
            out[col.name] = timestamp_text(value)
        elif col.type == "date":
            out[col.name] = value.isoformat()
        elif col.type == "numeric" and isinstance(value, decimal.Decimal):
            exponent = value.as_tuple().exponent
            integral = isinstance(exponent, int) and exponent >= 0
            out[col.name] = int(value) if integral else float(value)
        elif col.type == "json":
            # jsonb keeps its own key order and spacing: back to sorted, compact text.
            out[col.name] = _json_encode(_json_decode(value)).decode()
        elif col.type == "blob":
            out[col.name] = bytes(value)
    return out


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


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
    return isinstance(exc, asyncpg.InterfaceError) and (conn is None or conn.is_closed())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- decoding, off the event loop ----------------------------------------------------------


@dataclass(slots=True)
class _Piece:
    """One document, or one part of a streamed document, decoded into rows."""

    spec: DocSpec
    key: tuple[str, ...]
    ident: Ident
    version: Version
    codes: str | None  # the document's own codes (its first part's), for sf_documents
    rows: dict[str, list[Row]]
    lines: int
    first: bool
    last: bool
    digest: str | None  # the document's content hash, on its last part


def _lines(doc: Document) -> int:
    return len(doc.items) if isinstance(doc, InventorySnapshot) else len(doc.lines)


def _pieces(unit: LoadUnit) -> Generator[_Piece, None, None]:
    """The unit's documents as pieces, hashed and turned into rows (no provenance: the
    INSERT adds it, saving three columns a row on the wire). A streamed document yields one
    piece per part and is never held whole."""
    for spec, key, parts in group_documents(guarded(unit.documents)):
        first = next(parts)
        ident = (spec.kind.value, doc_key_text(key))
        version, codes = version_of(first), codes_text(first.codes)
        hasher = DocHasher(first)
        part, rows, is_first = first, rows_for(first), True
        for following in parts:
            hasher.add(part)
            yield _Piece(
                spec, key, ident, version, codes, rows, _lines(part), is_first, False, None
            )
            part, rows, is_first = following, line_rows(following), False
        hasher.add(part)
        digest = hasher.hexdigest()
        yield _Piece(spec, key, ident, version, codes, rows, _lines(part), is_first, True, digest)


def _take(pieces: Iterator[_Piece], max_rows: int) -> list[_Piece]:
    """The next pieces, about ``max_rows`` rows' worth; empty at the end. Runs in a thread."""
    out: list[_Piece] = []
    rows = 0
    for piece in pieces:
        out.append(piece)
        rows += piece.lines + 1
        if rows >= max_rows:
            break
    return out


class _Decoder:
    """Runs a unit's decoder in worker threads, one chunk ahead of the writer.

    Only one thread advances the generator at a time, and it is closed only once no
    thread runs it: a cancelled load lets the thread finish its chunk first (hence the
    shield), then closes the generator, which closes the decoder's files."""

    def __init__(self, unit: LoadUnit, chunk_rows: int) -> None:
        self._gen = _pieces(unit)
        self._chunk = chunk_rows
        self._ahead: asyncio.Future[list[_Piece]] | None = self._start()

    def _start(self) -> asyncio.Future[list[_Piece]]:
        return asyncio.ensure_future(asyncio.to_thread(_take, self._gen, self._chunk))

    async def next(self) -> list[_Piece]:
        """The next chunk of pieces; empty once the decoder is exhausted."""
        if self._ahead is None:
            return []
        chunk = await asyncio.shield(self._ahead)
        self._ahead = self._start() if chunk else None
        return chunk

    def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            self._gen.close()
        else:
            ahead.add_done_callback(self._closed)

    def _closed(self, ahead: asyncio.Future[list[_Piece]]) -> None:
        if not ahead.cancelled():
            ahead.exception()  # an error in a chunk nobody will read is moot: retrieve it
        self._gen.close()


# -- writing one unit -----------------------------------------------------------------------


@dataclass(slots=True)
class _Stream:
    piece: _Piece  # the first part
    stored: StoredDoc | None
    skip: bool  # an older version than the stored one: its parts are only counted


class _UnitWriter:
    """Writes one unit's documents inside the open transaction (the caller holds the
    unit's savepoint). Raises PayloadError when the payload's rows cannot be stored."""

    def __init__(self, conn: Conn, unit: LoadUnit, chunk_rows: int) -> None:
        self._conn = conn
        self._unit = unit
        self._chunk = chunk_rows
        self._prov = (unit.run_id, unit.record.endpoint.url, unit.record.request_id)
        self._known: dict[Ident, StoredDoc | None] = {}  # as stored in the database now
        self._pending: dict[Ident, StoredDoc] = {}  # staged, not yet moved to the tables
        self._doc_rows: list[tuple[str | None, ...]] = []
        self._replaces: list[tuple[DocSpec, tuple[str, ...]]] = []
        self._buffer: dict[str, list[Row]] = {}
        self._buffered = 0
        self._staged: set[str] = set()
        self._stream: _Stream | None = None
        self.stats = UnitStats()

    async def write(self) -> UnitStats:
        decoder = _Decoder(self._unit, self._chunk)
        try:
            while chunk := await decoder.next():
                await self._lookup(chunk)
                for piece in chunk:
                    await self._piece(piece)
        finally:
            decoder.close()
        await self._apply()
        return self.stats

    async def _lookup(self, chunk: list[_Piece]) -> None:
        """Fetch the stored version of every document that starts in this chunk."""
        wanted = {
            p.ident
            for p in chunk
            if p.first and p.ident not in self._pending and p.ident not in self._known
        }
        if not wanted:
            return
        types, keys = zip(*wanted, strict=True)
        for r in await self._conn.fetch(_LOOKUP_DOCS, list(types), list(keys)):
            version = (timestamp_text(r["issued_at"]), r["control_number"])
            self._known[(r["doc_type"], r["doc_key"])] = StoredDoc(version, r["content_hash"])
        for ident in wanted:
            self._known.setdefault(ident, None)

    def _stored(self, ident: Ident) -> StoredDoc | None:
        pending = self._pending.get(ident)
        return pending if pending is not None else self._known[ident]

    async def _piece(self, p: _Piece) -> None:
        self.stats.records += p.lines
        if not p.first:
            await self._part(p)
            return
        self.stats.documents += 1
        stored = self._stored(p.ident)
        if not p.last:
            await self._stream_start(p, stored)
            return
        assert p.digest is not None
        decision = decide(stored, p.version, p.digest)
        self.stats.stale_documents += decision is Decision.STALE
        if decision is not Decision.WRITE:
            return
        if p.ident in self._pending:
            await self._apply()  # the staged version is now stored, and will be replaced
        self._add(p.rows)
        self._remember(p, p.digest, stored)
        if self._buffered >= self._chunk:
            await self._apply()

    async def _stream_start(self, p: _Piece, stored: StoredDoc | None) -> None:
        if is_stale_version(stored, p.version):
            self.stats.stale_documents += 1
            self._stream = _Stream(p, stored, skip=True)
            return
        # From here until its last part the staging tables hold this document alone, so
        # that losing the hash tie-break can drop it by emptying them.
        await self._apply()
        self._stream = _Stream(p, stored, skip=False)
        self._add(p.rows)

    async def _part(self, p: _Piece) -> None:
        stream = self._stream
        assert stream is not None
        if stream.skip:
            if p.last:
                self._stream = None
            return
        self._add(p.rows)
        if self._buffered >= self._chunk:
            await self._copy()
        if not p.last:
            return
        self._stream = None
        assert p.digest is not None
        decision = decide(stream.stored, stream.piece.version, p.digest)
        if decision is Decision.WRITE:
            self._remember(stream.piece, p.digest, stream.stored)
            await self._apply()
            return
        self.stats.stale_documents += decision is Decision.STALE
        self._buffer, self._buffered = {}, 0
        await self._truncate()

    def _remember(self, first: _Piece, digest: str, stored: StoredDoc | None) -> None:
        if stored is not None:
            self._replaces.append((first.spec, first.key))
        self._pending[first.ident] = StoredDoc(first.version, digest)
        self._doc_rows.append((*first.ident, *first.version, digest, first.codes))

    def _add(self, rows: dict[str, list[Row]]) -> None:
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            buffered = self._buffer.get(table)
            if buffered is None:
                self._buffer[table] = table_rows
            else:
                buffered.extend(table_rows)
            self._buffered += len(table_rows)

    # -- statements --------------------------------------------------------------------

    async def _copy(self) -> None:
        buffer, self._buffer, self._buffered = self._buffer, {}, 0
        for table, rows in buffer.items():
            try:
                await self._conn.copy_records_to_table(_stage(TABLES[table]), records=rows)
            except (ArithmeticError, TypeError, ValueError, asyncpg.DataError) as exc:
                # A decoder yielded a value no column takes (asyncpg refuses it while
                # encoding, or the server while parsing): the payload cannot be stored.
                raise PayloadError(f"unstorable value: {exc}", kind="decoder_bug") from exc
            self._staged.add(table)

    async def _apply(self) -> None:
        """Move everything staged into the canonical tables and record the documents."""
        await self._copy()
        if not self._pending:
            return
        try:
            await self._delete_replaced()
            for table in self._staged:
                await self._conn.execute(_INSERT_SQL[table], *self._prov)
            columns = list(zip(*self._doc_rows, strict=True))
            await self._conn.execute(_UPSERT_DOCS, *map(list, columns), *self._prov)
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.CardinalityViolationError) as e:
            raise PayloadError(
                f"rows violate the table's constraints: {e}", kind="constraint"
            ) from e
        except asyncpg.DataError as exc:
            raise PayloadError(f"unstorable value: {exc}", kind="decoder_bug") from exc
        await self._truncate()
        self._known.update(self._pending)
        self._pending.clear()
        self._doc_rows.clear()

    async def _truncate(self) -> None:
        if self._staged:
            tables = ", ".join(_stage(TABLES[t]) for t in sorted(self._staged))
            await self._conn.execute(f"TRUNCATE {tables}")
            self._staged.clear()

    async def _delete_replaced(self) -> None:
        by_spec: dict[DocSpec, list[tuple[str, ...]]] = {}
        for spec, key in self._replaces:
            by_spec.setdefault(spec, []).append(key)
        self._replaces.clear()
        for spec, keys in by_spec.items():
            arrays = [list(column) for column in zip(*keys, strict=True)]
            for table in spec.tables:
                await self._conn.execute(_delete_docs(table, spec.key_columns), *arrays)


# -- the sink -------------------------------------------------------------------------------


class PostgresSink:
    """The :class:`~supplyfeed._sink.base.Sink` on one PostgreSQL database.

    ``lock=False`` opens without the one-run-at-a-time lock, for read-only commands.
    Dead letters larger than ``DEAD_LETTER_INLINE_MAX`` are spooled to ``dead_letter_dir``
    (content-addressed files) and the database keeps their name. After a lost connection
    an operation is retried ``max_attempts`` times in all, sleeping ``backoff`` seconds,
    doubling up to ``max_backoff``; ``sleep`` is injectable so tests need not wait.
    """

    def __init__(
        self,
        url: str,
        *,
        lock: bool = True,
        dead_letter_dir: str | Path = DEFAULT_DEAD_LETTER_DIR,
        chunk_rows: int = 50_000,
        max_attempts: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        connect_timeout: float = 10.0,
        relock_wait: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.dead_letter_dir = Path(dead_letter_dir)
        self._use_lock = lock
        self._chunk = chunk_rows
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._connect_timeout = connect_timeout
        self._relock_wait = relock_wait
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
                timeout=self._connect_timeout,
                server_settings={"application_name": f"supplyfeed {purpose}"},
            )
        except asyncpg.InvalidCatalogNameError as exc:
            raise SinkError(f"{redact(self.url)}: {exc} (create the database first)") from exc
        except asyncpg.InvalidAuthorizationSpecificationError as exc:
            raise SinkError(f"{redact(self.url)}: {exc}") from exc

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
            await self._take_lock(wait=self._relock_wait)
        if self._conn is None or self._conn.is_closed():
            await _close(self._conn)
            self._conn = None
            conn = await self._connect("writer")
            try:
                for table in CANONICAL_TABLES:
                    await conn.execute(_create_stage(table))
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
                        f"{redact(self.url)}; wait for it to finish, or use a read-only command"
                    )
                await asyncio.sleep(0.05)  # real time: the server is ending a session
        except BaseException:
            await _close(conn)
            raise
        self._lock_conn = conn

    async def _migrate(self) -> None:
        conn = await self._session()
        async with conn.transaction():
            # Two processes opening a new database at once must not race on CREATE TABLE.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK_KEY)
            for statement in (*create_statements("postgresql"), *_PG_ONLY):
                await conn.execute(statement)
            found = await conn.fetchval("SELECT max(version) FROM sf_schema_version")
            if found is not None and found > SCHEMA_VERSION:
                raise SinkError(
                    f"{redact(self.url)} has schema version {found}; this supplyfeed knows "
                    f"{SCHEMA_VERSION}: upgrade supplyfeed"
                )
            if found is None:
                await conn.execute(
                    "INSERT INTO sf_schema_version VALUES ($1, $2)",
                    SCHEMA_VERSION,
                    _now().isoformat(),
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
        delay = self._backoff
        for attempt in range(1, self._max_attempts + 1):
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
                            f"PostgreSQL error on {redact(self.url)} during {what}: {exc} "
                            "(the transaction was rolled back)"
                        ) from exc
                    raise
                await _close(self._conn)
                self._conn = None
                if attempt == self._max_attempts:
                    raise SinkError(
                        f"lost the connection to {redact(self.url)} during {what} "
                        f"{attempt} times; nothing uncommitted was kept: {exc}"
                    ) from exc
                log.warning(
                    "%s: connection to %s lost (%s); retry %d in %.2fs",
                    what,
                    redact(self.url),
                    exc,
                    attempt,
                    delay,
                )
                await self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
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
            raise SinkError(f"the PostgreSQL sink {redact(self.url)} is not open")

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
            raise SinkError(f"no run {run_id!r} in {redact(self.url)}")

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

    # -- data ----------------------------------------------------------------------------

    async def load(self, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
        self._check_open()
        if not units:
            return []
        token = uuid.uuid4().hex

        async def body(conn: Conn) -> list[EndpointRecord]:
            finals = []
            for unit in units:
                outcome = await self._try_unit(conn, unit)
                if isinstance(outcome, PayloadError):
                    await self._store_dead_letter(conn, unit, outcome)
                    finals.append(quarantined_record(unit, outcome))
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

    async def _try_unit(self, conn: Conn, unit: LoadUnit) -> UnitStats | PayloadError:
        savepoint = conn.transaction()
        await savepoint.start()
        try:
            stats = await _UnitWriter(conn, unit, self._chunk).write()
        except PayloadError as err:
            await savepoint.rollback()
            return err
        await savepoint.commit()
        return stats

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

    async def _store_dead_letter(self, conn: Conn, unit: LoadUnit, err: PayloadError) -> None:
        body = unit.body
        spool = body.size > DEAD_LETTER_INLINE_MAX
        try:
            blob = None if spool else await asyncio.to_thread(body.read)
            path = await asyncio.to_thread(self._spool, body) if spool else None
        except OSError as exc:
            raise SinkError(
                f"cannot spool a dead letter to {self.dead_letter_dir}: {exc} "
                "(nothing of this batch was committed)"
            ) from exc
        ep = unit.record.endpoint
        await conn.execute(
            _INSERT_DEAD_LETTER,
            *(unit.run_id, ep.key, ep.supplier_id, ep.kind.value, ep.format, ep.url),
            *(unit.record.request_id, err.kind, err.where, err.message),
            *(body.size, body.sha256, _now(), None, blob, path),
        )

    def _spool(self, body: Body) -> str:
        """Copy the payload to ``<dead_letter_dir>/<sha256>.bin``, fsynced before the
        transaction that names it commits; the same bytes quarantined again (or a retried
        batch) reuse the file. Returns the name, relative to the folder."""
        folder = self.dead_letter_dir
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{body.sha256}.bin"
        target = folder / name
        if target.exists():
            return name
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out, body.open() as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

    def _body(self, row: Mapping[str, Any]) -> Body:
        if row["body"] is not None:
            return Body(data=bytes(row["body"]), sha256=row["sha256"])
        path = self.dead_letter_dir / row["body_path"]
        if not path.exists():
            raise SinkError(f"dead letter {row['id']}: its spool file {path} is missing")
        return Body(path=path, sha256=row["sha256"])

    def _letter(self, row: asyncpg.Record) -> DeadLetter:
        plain = _ledger(SF_DEAD_LETTERS, row)
        return dead_letter_from_row(plain, self._body(plain))

    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        self._check_open()
        where = "" if include_resolved else " WHERE resolved_at IS NULL"

        async def body(conn: Conn) -> list[asyncpg.Record]:
            return await conn.fetch(f"{_select(SF_DEAD_LETTERS)}{where} ORDER BY id")

        async with self._mutex:
            rows = await self._read(body, "dead_letters")
        return [self._letter(r) for r in rows]

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
                raise SinkError(f"no dead letter {dead_letter_id} in {redact(self.url)}")
            letter = self._letter(row)
            stored = await conn.fetchrow(
                f"{_select(SF_ENDPOINTS)} WHERE run_id = $1 AND endpoint_key = $2",
                letter.run_id,
                letter.endpoint_key,
            )
            record = None if stored is None else record_from_row(_ledger(SF_ENDPOINTS, stored))
            unit = replay_unit(letter, record, documents)
            units[:] = [unit]
            outcome = await self._try_unit(conn, unit)
            if isinstance(outcome, PayloadError):
                await conn.execute(
                    "UPDATE sf_dead_letters SET error_kind = $1, error_where = $2, "
                    "error_message = $3 WHERE id = $4",
                    outcome.kind,
                    outcome.where,
                    outcome.message,
                    letter.id,
                )
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
