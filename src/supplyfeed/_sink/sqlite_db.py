"""The SQLite sink's database: everything that touches the connection.

:class:`Database` runs on one worker, a thread of the run or a spawned child process
(:mod:`.sqlite_worker`); :func:`run_converted` is the one place where ``sqlite3`` and
spool-folder ``OSError`` errors become :class:`SinkError`, for both workers.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from .._exceptions import PayloadError, SinkError
from .._failpoints import failpoint
from .._fetch.conditional import Validators
from .._formats.body import Body
from .._models import DocKind, Document
from .base import (
    Conflict,
    DeadLetter,
    Endpoint,
    EndpointRecord,
    LoadUnit,
    Outcome,
    RequestTrace,
    RunRecord,
)
from .dead_letter_sql import dead_letter_sql, spool_letter
from .feed_state import (
    CREATE_FEED_STATE,
    PageMark,
    read_cursors,
    read_page_marks,
    write_cursors,
    write_page_marks,
)
from .http_cache import CREATE_HTTP_CACHE, read_validators, write_validators
from .ledger import (
    dead_letter_from_row,
    endpoint_row,
    mapping_text,
    record_from_row,
    run_from_row,
    run_row,
    sightings_by_letter,
)
from .schema import (
    ADDED_COLUMNS,
    CANONICAL_TABLES,
    SCHEMA_VERSION,
    SF_DEAD_LETTERS,
    SF_ENDPOINTS,
    SF_RUNS,
    TRACED_TABLES,
    add_column_statement,
    create_statements,
    ddl_fingerprint,
)
from .semantics import (
    DEAD_LETTER_INLINE_MAX,
    UnitStats,
    final_record,
    loaded_record,
    replay_unit,
)
from .sqlite_batch import load_batch
from .sqlite_load import UnitLoader
from .sqlite_parts import Ledger, read_conflicts, sweep_source

__all__ = ["MEMORY", "Database", "run_converted", "sink_error"]

T = TypeVar("T")

MEMORY: Final = ":memory:"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_UPSERT_ENDPOINT: Final = _upsert(
    "sf_endpoints", SF_ENDPOINTS.column_names, ("run_id", "endpoint_key")
)
_INSERT_ENDPOINT: Final = (
    f"INSERT INTO sf_endpoints ({', '.join(SF_ENDPOINTS.column_names)}) "
    f"VALUES ({', '.join('?' * len(SF_ENDPOINTS.columns))}) ON CONFLICT DO NOTHING"
)
_START_RUN: Final = (
    f"INSERT INTO sf_runs ({', '.join(SF_RUNS.column_names)}) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
    "finished_at = excluded.finished_at"
)
_DEAD_LETTER_COLUMNS: Final = SF_DEAD_LETTERS.column_names[1:]  # id is assigned
_INSERT_DEAD_LETTER: Final = (
    f"INSERT INTO sf_dead_letters ({', '.join(_DEAD_LETTER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_DEAD_LETTER_COLUMNS))})"
)
_DL: Final = dead_letter_sql("sqlite")


class Database:
    """Everything that touches the connection. Runs on the worker thread only."""

    def __init__(
        self, path: str, *, busy_timeout: float, pragmas: Mapping[str, Any], chunk_rows: int
    ) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._pragmas = dict(pragmas)
        self._chunk_rows = chunk_rows
        self._conn: sqlite3.Connection | None = None
        # In-memory databases have nowhere to spool: their dead letters stay inline.
        self.spool_dir = None if path == MEMORY else _spool_dir(Path(path))

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SinkError(f"the SQLite sink {self.path} is not open")
        return self._conn

    # -- connection --------------------------------------------------------------------

    def open(self) -> None:
        # isolation_level=None: transactions are explicit (BEGIN/SAVEPOINT), never implicit.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = sqlite3.Row
        if self.path != MEMORY:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: big snapshots stay in cache
        conn.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint the WAL every 20,000 pages (80 MiB) instead of 1,000: a page that many
        # commits touch is copied into the database once, not once per checkpoint. About
        # 20% less writer CPU on many small payloads (bench: python -m bench sink).
        conn.execute("PRAGMA wal_autocheckpoint=20000")
        for name, value in self._pragmas.items():
            conn.execute(f"PRAGMA {name}={int(value) if isinstance(value, bool) else value}")
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """The schema, written only when the database's ``user_version`` is not this
        build's DDL fingerprint (``schema.ddl_fingerprint``): a file a run of this build
        already set up is opened without a single DDL statement."""
        if conn.execute("PRAGMA user_version").fetchone()[0] == _DDL_FINGERPRINT:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._refuse_older_schema(conn)
            for statement in _DDL:
                conn.execute(statement)
            _add_columns(conn)
            found = conn.execute("SELECT max(version) FROM sf_schema_version").fetchone()[0]
            if found is not None and found > SCHEMA_VERSION:
                raise SinkError(
                    f"{self.path} has schema version {found}; this supplyfeed knows "
                    f"{SCHEMA_VERSION}: upgrade supplyfeed"
                )
            if found is None:
                conn.execute(
                    "INSERT INTO sf_schema_version VALUES (?, ?)", (SCHEMA_VERSION, _now())
                )
            conn.execute(f"PRAGMA user_version = {_DDL_FINGERPRINT}")  # in the transaction
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _refuse_older_schema(self, conn: sqlite3.Connection) -> None:
        """A database of an older schema is refused before anything is created in it."""
        known = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sf_schema_version'"
        ).fetchone()
        if known is None:
            return
        found = conn.execute("SELECT max(version) FROM sf_schema_version").fetchone()[0]
        if found is not None and found < SCHEMA_VERSION:
            raise SinkError(
                f"{self.path} has schema version {found}, from a supplyfeed before "
                f"snapshot parts and conflicts (version {SCHEMA_VERSION}); it cannot "
                "be migrated in place: move it aside and run again to re-create it"
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # After SQLITE_FULL or an I/O error SQLite may already have rolled back.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- runs and ledger ---------------------------------------------------------------

    def start_run(self, run: RunRecord, endpoints: Sequence[Endpoint]) -> None:
        rows = [endpoint_row(run.run_id, EndpointRecord(e, Outcome.PENDING)) for e in endpoints]
        with self.transaction() as conn:
            conn.execute(_START_RUN, run_row(run))
            conn.executemany(_INSERT_ENDPOINT, rows)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        row = run_row(RunRecord(run_id, dt.datetime.now(dt.UTC), status, summary=summary))
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE sf_runs SET status = ?, finished_at = ?, summary = ? WHERE run_id = ?",
                (status, _now(), row[5], run_id),
            )
            if cur.rowcount == 0:
                raise SinkError(f"no run {run_id!r} in {self.path}")

    def get_run(self, run_id: str | None) -> RunRecord | None:
        if run_id is None:
            row = self.conn.execute("SELECT * FROM sf_runs ORDER BY rowid DESC LIMIT 1").fetchone()
        else:
            row = self.conn.execute("SELECT * FROM sf_runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else run_from_row(row)

    def record(self, records: Sequence[EndpointRecord], run_id: str) -> None:
        with self.transaction() as conn:
            conn.executemany(_UPSERT_ENDPOINT, [endpoint_row(run_id, r) for r in records])

    def endpoints(self, run_id: str) -> list[EndpointRecord]:
        rows = self.conn.execute(
            "SELECT * FROM sf_endpoints WHERE run_id = ? ORDER BY rowid", (run_id,)
        )
        return [record_from_row(r) for r in rows]

    # -- state between runs: validators (http_cache.py), marks, cursors (feed_state.py)

    def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        return read_validators(self.conn, keys)

    def put_validators(self, entries: Mapping[str, Validators]) -> None:
        with self.transaction() as conn:
            write_validators(conn, entries)

    def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        return read_page_marks(self.conn, run_id, keys)

    def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None:
        with self.transaction() as conn:
            write_page_marks(conn, run_id, marks)

    def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        return read_cursors(self.conn, keys)

    def put_cursors(self, entries: Mapping[str, str]) -> None:
        with self.transaction() as conn:
            write_cursors(conn, entries)

    # -- data --------------------------------------------------------------------------

    def load(self, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
        finals = []
        with self.transaction() as conn:
            ledger = Ledger(conn, units[0].run_id if units else "")
            per_unit = functools.partial(self._try_unit, conn, ledger)
            outcomes = load_batch(conn, units, self._chunk_rows, per_unit, ledger)
            quarantine = functools.partial(self._store_dead_letter, conn)
            for unit, outcome in zip(units, outcomes, strict=True):
                finals.append(final_record(unit, outcome, quarantine))
                failpoint("mid_batch")  # crash tests: rows written, nothing committed
                if len(units) > 1:  # the same, in a call that holds other units too
                    failpoint("mid_shared_batch")
            rows = [endpoint_row(u.run_id, f) for u, f in zip(units, finals, strict=True)]
            conn.executemany(_UPSERT_ENDPOINT, rows)
        for unit, final in zip(units, finals, strict=True):
            unit.record = final  # only once committed: the caller sees what is stored
        return finals

    def _try_unit(
        self, conn: sqlite3.Connection, ledger: Ledger, unit: LoadUnit
    ) -> UnitStats | PayloadError:
        conn.execute("SAVEPOINT sf_unit")
        try:
            stats = UnitLoader(conn, unit, self._chunk_rows, ledger).load()
        except PayloadError as err:
            conn.execute("ROLLBACK TO sf_unit")
            conn.execute("RELEASE sf_unit")
            return err
        conn.execute("RELEASE sf_unit")
        return stats

    def finish_source(self, run_id: str, source: str) -> int:
        with self.transaction() as conn:
            return sweep_source(conn, run_id, source)

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database (PASSIVE: readers and a writer go
        on). The WAL holds up to 80 MiB (wal_autocheckpoint above); done here, side by
        side with the run-end checks, close has only the last few pages left to copy."""
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def conflicts(self, run_id: str | None) -> list[Conflict]:
        return read_conflicts(self.conn, run_id)

    def table_rows(self, table: str) -> list[dict[str, Any]]:
        spec = next((t for t in CANONICAL_TABLES if t.name == table), None)
        if spec is None:
            raise SinkError(f"unknown table {table!r}; canonical tables: {_table_names()}")
        order = ", ".join(spec.primary_key)
        return [dict(r) for r in self.conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]

    # -- dead letters ------------------------------------------------------------------

    def _store_dead_letter(
        self, conn: sqlite3.Connection, unit: LoadUnit, err: PayloadError
    ) -> int | None:
        """Store a new letter (None), or a sighting of the open one with these bytes (its id)."""
        body, ep = unit.body, unit.record.endpoint
        found = conn.execute(_DL.open_letter, (ep.key, body.sha256)).fetchone()
        if found is not None:  # the same bytes again: one more sighting, not another copy
            conn.execute(_DL.seen_again, (found[0], unit.run_id, unit.record.request_id, _now()))
            conn.execute(_DL.letter_error, (err.kind, err.where, err.message, found[0]))
            return int(found[0])
        spool = self.spool_dir is not None and body.size > DEAD_LETTER_INLINE_MAX
        blob = None if spool else body.read()
        path = self._spool(body) if spool else None
        conn.execute(
            _INSERT_DEAD_LETTER,
            (
                *(unit.run_id, ep.key, ep.supplier_id, DocKind(ep.kind).value, ep.format, ep.url),
                *(unit.record.request_id, err.kind, err.where, err.message),
                *(body.size, body.sha256, _now(), None, blob, path, mapping_text(unit.mapping)),
            ),
        )
        return None

    def _spool(self, body: Body) -> str:
        """The letter's spool file in ``<db-stem>-dead-letters``; returns its name,
        relative to that folder."""
        assert self.spool_dir is not None
        return spool_letter(body, self.spool_dir).name

    def dead_letters(self, include_resolved: bool) -> list[DeadLetter]:
        return self._letters("" if include_resolved else " WHERE d.resolved_at IS NULL")

    def _letters(self, where: str, params: tuple[Any, ...] = ()) -> list[DeadLetter]:
        """The letters ``where`` selects (alias ``d``), with their sightings."""
        seen = sightings_by_letter(self.conn.execute(_DL.sightings(where), params))
        rows = self.conn.execute(f"SELECT * FROM sf_dead_letters d{where} ORDER BY id", params)
        return [dead_letter_from_row(r, self._body(r), seen.get(r["id"], ())) for r in rows]

    def trace(self, request_id: str) -> RequestTrace:
        ledger = self.conn.execute(
            "SELECT * FROM sf_endpoints WHERE request_id = ? ORDER BY rowid", (request_id,)
        )
        rows = {
            table: self.conn.execute(
                f"SELECT count(*) FROM {table} WHERE request_id = ?", (request_id,)
            ).fetchone()[0]
            for table in TRACED_TABLES
        }
        return RequestTrace(
            request_id,
            [(r["run_id"], record_from_row(r)) for r in ledger],
            self._letters(_DL.by_request, (request_id,)),
            rows,
        )

    def _body(self, row: Mapping[str, Any]) -> Body:
        if row["body"] is not None:
            return Body(data=row["body"], sha256=row["sha256"])
        assert self.spool_dir is not None
        path = self.spool_dir / row["body_path"]
        if not path.exists():
            raise SinkError(f"dead letter {row['id']}: its spool file {path} is missing")
        return Body(path=path, sha256=row["sha256"])

    def replay(
        self, dead_letter_id: int, documents: Callable[[Body], Iterator[Document]]
    ) -> EndpointRecord:
        row = self.conn.execute(
            "SELECT * FROM sf_dead_letters WHERE id = ?", (dead_letter_id,)
        ).fetchone()
        if row is None:
            raise SinkError(f"no dead letter {dead_letter_id} in {self.path}")
        letter = dead_letter_from_row(row, self._body(row))
        unit = self._replay_unit(letter, documents)
        with self.transaction() as conn:
            outcome = self._try_unit(conn, Ledger(conn, unit.run_id), unit)
            if isinstance(outcome, PayloadError):
                error = (outcome.kind, outcome.where, outcome.message, letter.id)
                conn.execute(_DL.letter_error, error)
            else:
                final = loaded_record(unit, outcome)
                conn.execute(_UPSERT_ENDPOINT, endpoint_row(unit.run_id, final))
                conn.execute(
                    "UPDATE sf_dead_letters SET resolved_at = ? WHERE id = ?", (_now(), letter.id)
                )
        if isinstance(outcome, PayloadError):
            raise outcome
        return final

    def _replay_unit(
        self, letter: DeadLetter, documents: Callable[[Body], Iterator[Document]]
    ) -> LoadUnit:
        row = self.conn.execute(
            "SELECT * FROM sf_endpoints WHERE run_id = ? AND endpoint_key = ?",
            (letter.run_id, letter.endpoint_key),
        ).fetchone()
        return replay_unit(letter, None if row is None else record_from_row(row), documents)


_DDL: Final = (*create_statements("sqlite"), CREATE_HTTP_CACHE, *CREATE_FEED_STATE)
_DDL_FINGERPRINT: Final = ddl_fingerprint(
    (*_DDL, *(add_column_statement(t, c, "sqlite") for t, c in ADDED_COLUMNS))
)


def _add_columns(conn: sqlite3.Connection) -> None:
    """The columns added since the schema version shipped, to a database without them."""
    for table, column in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(add_column_statement(table, column, "sqlite"))


def _table_names() -> str:
    return ", ".join(t.name for t in CANONICAL_TABLES)


def _spool_dir(db: Path) -> Path:
    return db.with_name(f"{db.stem}-dead-letters")


def sink_error(path: str, exc: sqlite3.Error) -> SinkError:
    text = str(exc)
    if "full" in text:
        hint = (
            "the disk (or the database's size limit) is full; nothing of this batch was committed"
        )
    elif isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        hint = "another process kept the database busy past the busy timeout"
    else:
        hint = "the transaction was rolled back"
    return SinkError(f"SQLite error on {path}: {text} ({hint})")


def run_converted(path: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one database call on the worker; its errors leave it as :class:`SinkError`."""
    try:
        return fn(*args, **kwargs)
    except sqlite3.Error as exc:
        raise sink_error(path, exc) from exc
    except OSError as exc:  # the spool folder of dead letters: disk full, permissions
        raise SinkError(f"I/O error beside {path}: {exc}") from exc
