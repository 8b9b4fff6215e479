"""The sink seam: one protocol, implemented by SQLite, PostgreSQL and an in-memory fake.

A sink stores three things in one database, so that a document's rows and its ledger
checkpoint commit in the same transaction:

- the canonical tables of docs/contract.md §5 (``inventory_positions``, ``po_acks``,
  ``po_ack_lines``, ``ship_notices``, ``ship_notice_lines``), each row carrying
  ``run_id``, ``source_url`` and ``request_id``;
- the run ledger: ``sf_runs`` (one row a run) and ``sf_endpoints`` (one row per endpoint
  per run), plus ``sf_documents`` (natural key, version and content hash of every loaded
  document, which makes reloads no-ops and rejects stale versions);
- dead letters: ``sf_dead_letters``, raw bytes inline or spooled to a file beside the
  database when large.

Load semantics (:meth:`Sink.load`), per :class:`LoadUnit` and atomically:

1. decode lazily by iterating ``unit.documents()`` inside the transaction (a savepoint per
   unit); a :class:`~supplyfeed.PayloadError` rolls the unit back, stores a dead letter and
   records the endpoint as ``quarantined``;
2. each document replaces the stored one whole (lines absent now are deleted), unless its
   content hash equals the stored one (nothing is written, not even provenance) or its
   version ``(issued_at, control_number)`` is lower than the stored one (skipped as stale);
   at an equal version the higher content hash wins, so the result never depends on the
   order of delivery;
3. the endpoint's ledger row becomes ``loaded`` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from .._config import FieldMapping
from .._fetch.conditional import Validators
from .._formats.body import Body
from .._models import DocKind, Document
from .._pickling import field_getter
from .feed_state import PageMark

__all__ = [
    "PAGE_SUFFIX",
    "Conflict",
    "DeadLetter",
    "Delivery",
    "Endpoint",
    "EndpointRecord",
    "LoadUnit",
    "Outcome",
    "RequestTrace",
    "RunRecord",
    "Sighting",
    "Sink",
]


class Outcome(StrEnum):
    """What became of one endpoint in one run."""

    PENDING = "pending"  # planned, not finished (yet): resume fetches it
    LOADED = "loaded"  # fetched, decoded and committed
    UNCHANGED = "unchanged"  # 304, or a body identical to the last one loaded
    QUARANTINED = "quarantined"  # fetched but undecodable: a dead letter holds the bytes
    FAILED = "failed"  # fetch failed (see error_kind, permanent)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One planned unit of work of a run: a URL (or a page of it) of a feed."""

    key: str  # stable within the run; for plain URLs the redacted URL itself
    supplier_id: str
    kind: DocKind
    format: str
    url: str  # redacted: never contains a secret

    def __reduce__(self) -> tuple[type[Endpoint], tuple[Any, ...]]:  # _pickling.py
        return (Endpoint, _ENDPOINT_FIELDS(self))

    @property
    def source(self) -> str:
        """Where the documents come from as configured (docs/contract.md §6): the feed URL without
        its
        pagination (every page of a paged feed is one source), or one drop file."""
        return self.key.partition(PAGE_SUFFIX)[0]


# A paged feed's later pages are keyed ``<feed key>#page=N`` (_run/paging.py).
PAGE_SUFFIX = "#page="


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a document came from: its source, the page or file fetched, the run and the
    request. Two documents of one source and one run belong to one delivery."""

    source: str
    page: str
    run_id: str
    request_id: str | None

    def same_delivery(self, other: Delivery) -> bool:
        return self.source == other.source and self.run_id == other.run_id


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two reports of one line, or one whole document, that differ at an equal version."""

    doc_type: str
    doc_key: str
    line_key: str | None
    winner: Delivery
    winner_values: Any
    loser: Delivery
    loser_values: Any


@dataclass(slots=True)
class EndpointRecord:
    """The ledger row of one endpoint in one run."""

    endpoint: Endpoint
    outcome: Outcome
    attempts: int = 0
    http_status: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    permanent: bool = False
    bytes: int = 0
    records: int = 0
    documents: int = 0
    stale_documents: int = 0
    request_id: str | None = None
    started_at: dt.datetime | None = None
    elapsed: float = 0.0
    retry_history: list[dict[str, Any]] = field(default_factory=list)
    # Where the records decoded went (docs/contract.md §6): records = the sum of these five.
    records_loaded: int = 0
    records_unchanged: int = 0
    records_stale: int = 0
    records_superseded: int = 0
    records_conflict: int = 0
    # The conflicts this payload met while loading, for the run's log (sf_conflicts keeps
    # them); not read back from the ledger.
    conflicts: list[Conflict] = field(default_factory=list)

    def __reduce__(self) -> tuple[type[EndpointRecord], tuple[Any, ...]]:  # _pickling.py
        return (EndpointRecord, _RECORD_FIELDS(self))


_ENDPOINT_FIELDS: Final = field_getter(Endpoint)
_RECORD_FIELDS: Final = field_getter(EndpointRecord)


@dataclass(slots=True)
class LoadUnit:
    """A fetched payload to decode and load atomically, with its ledger row."""

    run_id: str
    record: EndpointRecord  # outcome is set by the sink (loaded or quarantined)
    body: Body
    documents: Callable[[], Iterator[Document]]  # decodes lazily; may raise PayloadError
    # A page of a paged feed: its delivery spans several units, so a newer delivery
    # replaces the source's lines when it completes (Sink.finish_source), not page by page.
    paged: bool = False
    # The feed's field mapping (JSON, CSV, XML): kept with a dead letter, so that replay
    # decodes it as the run would have, without the feeds file.
    mapping: FieldMapping | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run's row in the ledger: when, from which feeds file, how it ended."""

    run_id: str
    started_at: dt.datetime
    status: str  # running | finished | interrupted | failed
    finished_at: dt.datetime | None = None
    feeds: str = ""  # the feeds file path or "demo"
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sighting:
    """A later run that met a dead letter's bytes again at the same endpoint."""

    run_id: str
    request_id: str | None
    seen_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A payload that could not be loaded, kept with its bytes until a replay loads it.

    The same bytes from the same endpoint are stored once while the letter is open: a
    supplier that serves one broken file every 15 minutes adds a :class:`Sighting` per run
    (its run and request id), not another copy of the payload."""

    id: int
    run_id: str
    endpoint_key: str
    supplier_id: str
    kind: DocKind
    format: str
    url: str
    request_id: str | None
    error_kind: str
    error_where: str
    error_message: str
    size: int
    sha256: str
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    body: Body  # inline bytes or the spool file
    sightings: tuple[Sighting, ...] = ()  # oldest first
    mapping: FieldMapping | None = None  # the feed's, when it had one (replay uses it)

    @property
    def occurrences(self) -> int:
        """How many runs met these bytes at this endpoint while the letter was open."""
        return 1 + len(self.sightings)

    @property
    def last_seen_at(self) -> dt.datetime:
        return self.sightings[-1].seen_at if self.sightings else self.created_at


@dataclass(frozen=True, slots=True)
class RequestTrace:
    """Everything one request id leads to: what an operator needs after reading it in a
    log line (``supplyfeed trace``)."""

    request_id: str
    endpoints: list[tuple[str, EndpointRecord]]  # (run id, ledger row), retry history in it
    dead_letters: list[DeadLetter]  # the letter it created, or met again (a sighting)
    rows: dict[str, int]  # canonical table (and sf_documents) -> rows it brought

    @property
    def found(self) -> bool:
        return bool(self.endpoints or self.dead_letters or any(self.rows.values()))


class Sink(Protocol):
    """What the pipeline needs from a database. All methods are safe to await on the loop:
    blocking drivers run in a worker thread or process.

    The pipeline may start a ``record`` or ``load`` call before the previous one returned
    (it keeps the next batch waiting behind the running one). A sink runs its calls one at
    a time, in the order they started: a single-worker executor or a FIFO lock does it."""

    url: str

    async def open(self) -> None:
        """Connect, create or migrate the schema and take the one-run-at-a-time lock.
        Raises :class:`~supplyfeed.RunLockedError` when another run holds it."""

    async def close(self) -> None: ...

    # -- runs and the ledger --------------------------------------------------------
    async def start_run(self, run: RunRecord, endpoints: Sequence[Endpoint]) -> None:
        """Insert the run and one ``pending`` ledger row per endpoint (idempotent on keys)."""

    async def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None: ...

    async def get_run(self, run_id: str | None = None) -> RunRecord | None:
        """The given run, or the latest one when ``run_id`` is None."""

    async def record(self, records: Sequence[EndpointRecord], run_id: str) -> None:
        """Upsert ledger rows that carry no data (fetch failures, unchanged)."""

    async def endpoints(self, run_id: str) -> list[EndpointRecord]:
        """Every ledger row of a run."""

    # -- state between runs (part of every sink: kept in memory, it would be lost) -------
    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        """Conditional-request validators (``sf_http_cache``) of endpoint keys."""

    async def put_validators(self, entries: Mapping[str, Validators]) -> None: ...

    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        """Where each paged feed of a run continues (``sf_page_marks``)."""

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None: ...

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        """Incremental feeds' cursors (``sf_cursors``)."""

    async def put_cursors(self, entries: Mapping[str, str]) -> None: ...

    # -- data -------------------------------------------------------------------------
    async def load(self, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
        """Decode and load each unit atomically (see the module docstring), commit, and
        return the units' final ledger rows. Units may share one transaction; a unit is
        never split across two."""

    async def finish_source(self, run_id: str, source: str) -> int:
        """A paged source's delivery in ``run_id`` is complete: its lines from earlier
        deliveries on pages this one did not bring go; another part's copy of a line takes
        its place (docs/contract.md §6). Returns the table rows that changed."""

    async def checkpoint(self) -> None:
        """Housekeeping the sink may do while the run's last checks read it (SQLite: copy
        the write-ahead log into the database, which closing would otherwise do)."""

    async def conflicts(self, run_id: str | None = None) -> list[Conflict]:
        """The conflicts stored (``sf_conflicts``), of one run or of every run."""

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a canonical table, for reports and the reliability checker."""

    # -- dead letters -----------------------------------------------------------------
    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]: ...

    async def trace(self, request_id: str) -> RequestTrace:
        """The ledger rows, dead letters and row counts that carry ``request_id``."""

    async def replay(
        self, dead_letter_id: int, documents: Callable[[Body], Iterator[Document]]
    ) -> EndpointRecord:
        """Re-decode a dead letter's bytes and load them; mark it resolved on success.
        A PayloadError leaves it open (with the new error) and is re-raised."""
