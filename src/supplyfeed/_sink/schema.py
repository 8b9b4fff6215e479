"""The canonical tables and the ledger, described as data that any SQL sink renders.

Column types are dialect-neutral names (see :data:`SQL_TYPES`); a sink renders them with
:func:`create_statements`. The row builders turn a canonical document into the tuples of
each table in column order; they sit on the hot path (100k+ rows/s), so they are plain
tuple comprehensions with every per-document value computed once.

Storage values are the same for every dialect: dates and timestamps are ISO 8601 text
(timestamps in UTC with a ``Z``), quantities keep the type the supplier sent (int or
float), ``codes`` is sorted-key JSON text or NULL when empty. A PostgreSQL sink casts the
text into ``date``/``timestamptz`` columns on insert (``$n::timestamptz``).

A document's identity in the ledger is ``(doc_type, doc_key)``: its :class:`DocKind` value
and the JSON array of its natural key (:func:`supplyfeed._models.document_key`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import msgspec

from .._models import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    ShipNotice,
    document_key,
)
from .position_json import position_json_statements
from .views import view_statements

__all__ = [
    "ADDED_COLUMNS",
    "CANONICAL_TABLES",
    "DOC_SPECS",
    "LEDGER_TABLES",
    "NO_PROVENANCE",
    "SCHEMA_VERSION",
    "SQL_TYPES",
    "TABLES",
    "TRACED_TABLES",
    "Column",
    "DocHasher",
    "DocSpec",
    "Provenance",
    "Row",
    "Table",
    "Version",
    "add_column_statement",
    "codes_text",
    "content_hash",
    "create_statements",
    "ddl_fingerprint",
    "doc_key_text",
    "doc_spec",
    "header_rows",
    "inventory_values",
    "item_line_hash",
    "line_hash",
    "line_rows",
    "rows_for",
    "timestamp_text",
    "version_key",
    "version_of",
]

# 2: document parts (docs/contract.md §6): ``source`` on every row, inventory line versions, shadow
# copies, conflicts and per-bucket record counts in the ledger.
SCHEMA_VERSION: Final = 2

Row: TypeAlias = tuple[Any, ...]
# run_id, source_url (the page or file fetched), request_id, source (docs/contract.md §6: the feed
# URL
# without its pagination, or one drop file).
Provenance: TypeAlias = tuple[str, str, str | None, str]
NO_PROVENANCE: Final[Provenance] = ("", "", None, "")

# Neutral type -> rendering per dialect. SQLite tables are STRICT, so a decoder that
# yields a wrong type is caught by the database instead of stored silently; "ANY" keeps
# quantities as sent (12 stays an int, 12.5 a float) where NUMERIC would coerce them.
SQL_TYPES: Final[dict[str, dict[str, str]]] = {
    "text": {"sqlite": "TEXT", "postgresql": "text"},
    "int": {"sqlite": "INTEGER", "postgresql": "bigint"},
    "real": {"sqlite": "REAL", "postgresql": "double precision"},
    "numeric": {"sqlite": "ANY", "postgresql": "numeric"},
    "bool": {"sqlite": "INTEGER", "postgresql": "boolean"},
    "date": {"sqlite": "TEXT", "postgresql": "date"},
    "timestamp": {"sqlite": "TEXT", "postgresql": "timestamptz"},
    "json": {"sqlite": "TEXT", "postgresql": "jsonb"},
    "blob": {"sqlite": "BLOB", "postgresql": "bytea"},
}


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a canonical table, in the dialect-neutral types of SQL_TYPES."""

    name: str
    type: str  # a key of SQL_TYPES
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    """A canonical table: its columns, primary key and database-assigned id."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]  # in index order (the order lookups and deletes use)
    autoincrement: str | None = None  # an integer id column the database assigns

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(spec: str) -> Column:
    """``"name type"`` or ``"name type!"`` (NOT NULL): keeps the table list readable."""
    name, type_ = spec.split()
    return Column(name, type_.rstrip("!"), nullable=not type_.endswith("!"))


def _table(name: str, pk: str, *cols: str, autoincrement: str | None = None) -> Table:
    return Table(name, tuple(_c(c) for c in cols), tuple(pk.split()), autoincrement)


_PROVENANCE = ("codes json", "run_id text!", "source_url text!", "request_id text", "source text!")

# Primary keys list the document's key first (e.g. as_of before sku), so the primary key
# index also serves "delete every row of this document".
INVENTORY_POSITIONS = _table(
    "inventory_positions",
    "supplier_id warehouse_id as_of sku",
    *("supplier_id text!", "warehouse_id text!", "as_of timestamp!", "sku text!"),
    *("on_hand numeric!", "available numeric", "uom text"),
    *_PROVENANCE,
    # The version of the part that brought the line: a line reported by two parts is
    # decided by it (docs/contract.md §6) without a lookup of the other part.
    *("issued_at timestamp", "control_number text"),
)
PO_ACKS = _table(
    "po_acks",
    "supplier_id po_number ack_number",
    *("supplier_id text!", "po_number text!", "ack_number text!"),
    *("ack_date date", "status text", "issued_at timestamp", "control_number text"),
    *_PROVENANCE,
)
PO_ACK_LINES = _table(
    "po_ack_lines",
    "supplier_id po_number ack_number line_number",
    *("supplier_id text!", "po_number text!", "ack_number text!", "line_number text!"),
    *("sku text", "ordered_qty numeric", "acked_qty numeric", "uom text"),
    *("unit_price real", "line_status text", "promised_date date"),
    *_PROVENANCE,
)
SHIP_NOTICES = _table(
    "ship_notices",
    "supplier_id asn_number",
    *("supplier_id text!", "asn_number text!", "ship_date date", "expected_delivery date"),
    *("carrier text", "tracking_number text", "ship_from text", "ship_to text"),
    *("issued_at timestamp", "control_number text"),
    *_PROVENANCE,
)
SHIP_NOTICE_LINES = _table(
    "ship_notice_lines",
    "supplier_id asn_number line_seq",
    *("supplier_id text!", "asn_number text!", "line_seq int!", "po_number text"),
    *("po_line_number text", "sku text", "shipped_qty numeric", "uom text"),
    *("container_id text", "lot text"),
    *_PROVENANCE,
)
CANONICAL_TABLES: Final = (
    INVENTORY_POSITIONS,
    PO_ACKS,
    PO_ACK_LINES,
    SHIP_NOTICES,
    SHIP_NOTICE_LINES,
)

SF_SCHEMA_VERSION = _table("sf_schema_version", "version", "version int!", "applied_at text!")
SF_RUNS = _table(
    "sf_runs",
    "run_id",
    *("run_id text!", "started_at timestamp!", "status text!", "finished_at timestamp"),
    *("feeds text!", "summary json!"),
)
SF_ENDPOINTS = _table(
    "sf_endpoints",
    "run_id endpoint_key",
    *("run_id text!", "endpoint_key text!", "supplier_id text!", "kind text!"),
    *("format text!", "url text!", "outcome text!", "attempts int!", "http_status int"),
    *("error_kind text", "error_message text", "permanent bool!", "bytes int!"),
    *("records int!", "documents int!", "stale_documents int!", "request_id text"),
    *("started_at timestamp", "elapsed real!", "retry_history json!"),
    # What became of the records decoded (docs/contract.md §6): records = the sum of these five.
    *("records_loaded int!", "records_unchanged int!", "records_stale int!"),
    *("records_superseded int!", "records_conflict int!"),
)
SF_DOCUMENTS = _table(
    "sf_documents",
    "doc_type doc_key",
    *("doc_type text!", "doc_key text!", "issued_at timestamp", "control_number text"),
    *("content_hash text!", "codes json", "run_id text!", "source_url text!"),
    *("request_id text", "source text!", "records int!"),
)
# A copy of an inventory line that is not the one in ``inventory_positions``: reported by
# another part too (equal, older, or the loser of a conflict). When the part holding the
# table's copy drops the line, the best shadow takes its place, so no part's report of a
# line is ever lost while that part stands (docs/contract.md §6).
SF_INVENTORY_SHADOWS = _table(
    "sf_inventory_shadows",
    "supplier_id warehouse_id as_of sku source source_url line_hash",
    *("supplier_id text!", "warehouse_id text!", "as_of timestamp!", "sku text!"),
    *("on_hand numeric!", "available numeric", "uom text"),
    *_PROVENANCE,
    *("issued_at timestamp", "control_number text", "line_hash text!"),
)
# Two reports of one line (or one whole document) with different values at an equal
# version: the winner is deterministic, and both sides are kept here (docs/contract.md §6).
SF_CONFLICTS = _table(
    "sf_conflicts",
    "id",
    *("id int!", "run_id text!", "doc_type text!", "doc_key text!", "line_key text"),
    *("winner_source text!", "winner_request_id text", "winner_values json!"),
    *("loser_source text!", "loser_request_id text", "loser_values json!"),
    "detected_at timestamp!",
    autoincrement="id",
)
SF_DEAD_LETTERS = _table(
    "sf_dead_letters",
    "id",
    *("id int!", "run_id text!", "endpoint_key text!", "supplier_id text!", "kind text!"),
    *("format text!", "url text!", "request_id text", "error_kind text!"),
    *("error_where text!", "error_message text!", "size int!", "sha256 text!"),
    *("created_at timestamp!", "resolved_at timestamp", "body blob", "body_path text"),
    "mapping json",  # the feed's field mapping (ADDED_COLUMNS): replay decodes with it
    autoincrement="id",
)
# The same bytes quarantined again from the same endpoint while its letter is open: one
# row per later run that met them, so the letter (and its body) is stored once and every
# request id that brought it can still be found.
SF_DEAD_LETTER_SIGHTINGS = _table(
    "sf_dead_letter_sightings",
    "id",
    *("id int!", "dead_letter_id int!", "run_id text!", "request_id text"),
    "seen_at timestamp!",
    autoincrement="id",
)
# Rule findings (issue 15, ``findings_store.py``): one row per broken rule and document
# (and the line or source within it), so a rerun that finds it again adds nothing. Added
# to schema 2 with CREATE TABLE IF NOT EXISTS at open: a database made before it gets it
# at its next open, so this needs no version step.
SF_FINDINGS = _table(
    "sf_findings",
    "rule supplier_id document line",
    *("rule text!", "supplier_id text!", "document text!", "line text!", "severity text!"),
    *("detail text!", "sku text", "warehouse_id text", "run_id text!", "found_at timestamp!"),
)
LEDGER_TABLES: Final = (
    SF_SCHEMA_VERSION,
    SF_RUNS,
    SF_ENDPOINTS,
    SF_DOCUMENTS,
    SF_DEAD_LETTERS,
    SF_DEAD_LETTER_SIGHTINGS,
    SF_INVENTORY_SHADOWS,
    SF_CONFLICTS,
    SF_FINDINGS,
)
TABLES: Final[dict[str, Table]] = {t.name: t for t in CANONICAL_TABLES + LEDGER_TABLES}
# Where a request id is provenance: the rows it brought (``Sink.trace`` counts them).
TRACED_TABLES: Final = (*(t.name for t in CANONICAL_TABLES), SF_DOCUMENTS.name)


# Columns added to a table after its schema version shipped: additive, so an existing
# database of that version gets them when it is opened, and stays readable by the
# supplyfeed that made it (reads name their columns).
ADDED_COLUMNS: Final[tuple[tuple[str, str], ...]] = (("sf_dead_letters", "mapping"),)


def add_column_statement(table: str, column: str, dialect: str) -> str:
    """``ALTER TABLE ... ADD COLUMN``; PostgreSQL's skips a column already there (SQLite
    has no ``IF NOT EXISTS`` for columns: its sink asks ``PRAGMA table_info`` first)."""
    col = next(c for c in TABLES[table].columns if c.name == column)
    guard = " IF NOT EXISTS" if dialect == "postgresql" else ""
    return f"ALTER TABLE {table} ADD COLUMN{guard} {column} {SQL_TYPES[col.type][dialect]}"


def create_statements(dialect: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for every table, rendered for ``dialect``, then the
    secondary indexes, the kept positions' table and triggers (``position_json.py``) and
    the operator's views (``views.py``)."""
    tables = (_create(t, dialect) for t in TABLES.values())
    # The kept positions before the views: SQLite makes the views again at every open, so
    # they stay last in sqlite_master and a reopened database dumps as it did.
    kept = position_json_statements(dialect)
    return [*tables, *INDEXES, *kept, *view_statements(dialect)]


def ddl_fingerprint(statements: Iterable[str]) -> int:
    """A digest (31 bits, never 0) of the schema version and the DDL a sink runs at open.

    A sink stores it once that DDL has run (SQLite's ``user_version``, a comment on
    PostgreSQL's ``sf_schema_version``) and skips the DDL at an open that finds its own
    digest there: the schema is written only when it changed (issue 17), not at every
    15-minute re-poll. Any change to a table, index, view or trigger changes the digest,
    so a database made by another build is brought up to date as before."""
    text = "\n".join((str(SCHEMA_VERSION), *statements)).encode()
    digest = int.from_bytes(hashlib.sha256(text).digest()[:4], "big") & 0x7FFFFFFF
    return digest or 1


# Secondary indexes, the same text in both dialects. Open letters are looked up by
# endpoint and body hash on every quarantine (to add a sighting instead of a copy).
INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS sf_dead_letters_open "
    "ON sf_dead_letters (endpoint_key, sha256) WHERE resolved_at IS NULL",
    "CREATE INDEX IF NOT EXISTS sf_conflicts_run ON sf_conflicts (run_id)",
    # reconcile --sku reads the stored findings, ship notice and acknowledgment lines of
    # one SKU (200k lines each: a scan of each was most of a --sku answer).
    "CREATE INDEX IF NOT EXISTS sf_findings_sku ON sf_findings (sku)",
    "CREATE INDEX IF NOT EXISTS ship_notice_lines_sku ON ship_notice_lines (sku)",
    "CREATE INDEX IF NOT EXISTS po_ack_lines_sku ON po_ack_lines (sku)",
    # The shipped_exceeds_acknowledged rule sums the ship notice lines of each PO line and
    # looks up its acknowledged quantity: both covered, in PO line order (200k lines each:
    # SQLite 1.25 s -> 0.4 s, no sort and one seek per PO line; PostgreSQL groups the
    # index in order).
    "CREATE INDEX IF NOT EXISTS ship_notice_lines_po_line ON ship_notice_lines "
    "(supplier_id, po_number, po_line_number, sku, uom, shipped_qty)",
    "CREATE INDEX IF NOT EXISTS po_ack_lines_po_line ON po_ack_lines "
    "(supplier_id, po_number, line_number, uom, acked_qty)",
)


def _create(table: Table, dialect: str) -> str:
    defs = []
    for col in table.columns:
        if col.name == table.autoincrement:
            auto = "INTEGER PRIMARY KEY" if dialect == "sqlite" else "bigserial PRIMARY KEY"
            defs.append(f"{col.name} {auto}")
            continue
        null = "" if col.nullable else " NOT NULL"
        defs.append(f"{col.name} {SQL_TYPES[col.type][dialect]}{null}")
    if table.autoincrement is None:
        defs.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    suffix = ""
    if dialect == "sqlite":
        # Canonical rows are small and found by key: WITHOUT ROWID stores them once, in the
        # key's b-tree, instead of a rowid table plus a key index. Ledger tables keep their
        # rowid, which gives insertion order for listings.
        suffix = " STRICT, WITHOUT ROWID" if table in CANONICAL_TABLES else " STRICT"
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(defs)}){suffix}"


# -- documents ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocSpec:
    """Where one kind of document lives: its key columns and tables (header first)."""

    kind: DocKind
    key_columns: tuple[str, ...]
    tables: tuple[Table, ...]


DOC_SPECS: Final[dict[type[Any], DocSpec]] = {
    InventorySnapshot: DocSpec(
        DocKind.INVENTORY_SNAPSHOT,
        ("supplier_id", "warehouse_id", "as_of"),
        (INVENTORY_POSITIONS,),
    ),
    PoAck: DocSpec(
        DocKind.PO_ACK, ("supplier_id", "po_number", "ack_number"), (PO_ACKS, PO_ACK_LINES)
    ),
    ShipNotice: DocSpec(
        DocKind.SHIP_NOTICE, ("supplier_id", "asn_number"), (SHIP_NOTICES, SHIP_NOTICE_LINES)
    ),
}


def doc_spec(doc: Document) -> DocSpec:
    return DOC_SPECS[type(doc)]


def doc_key_text(key: tuple[str, ...]) -> str:
    return msgspec.json.encode(key).decode()


_encode = msgspec.json.Encoder(order="sorted").encode


def codes_text(codes: dict[str, str]) -> str | None:
    """Sorted-key JSON, or None when there are no codes (most rows: saves a column's bytes)."""
    return _encode(codes).decode() if codes else None


def timestamp_text(value: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with ``Z``; naive datetimes are taken as UTC (as document_key does)."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        return value.isoformat() + "Z"
    if offset:
        value = value.astimezone(dt.UTC)
    # isoformat is ~4x cheaper than strftime, and this runs for every document; an aware
    # UTC datetime's text ends in "+00:00".
    return value.isoformat()[:-6] + "Z"


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def header_rows(doc: Document, prov: Provenance = NO_PROVENANCE) -> dict[str, list[Row]]:
    """The header table's row (none for inventory snapshots, which have no header table)."""
    if isinstance(doc, PoAck):
        po_ack = (
            *(doc.supplier_id, doc.po_number, doc.ack_number, _date(doc.ack_date), doc.status),
            *(timestamp_text(doc.issued_at), doc.control_number, codes_text(doc.codes)),
            *prov,
        )
        return {"po_acks": [po_ack]}
    if isinstance(doc, ShipNotice):
        notice = (
            *(doc.supplier_id, doc.asn_number, _date(doc.ship_date)),
            *(_date(doc.expected_delivery), doc.carrier, doc.tracking_number, doc.ship_from),
            *(doc.ship_to, timestamp_text(doc.issued_at), doc.control_number),
            *(codes_text(doc.codes), *prov),
        )
        return {"ship_notices": [notice]}
    return {}


# The line builders are one flat tuple literal per row: they run a million times a second.
# fmt: off
def line_rows(doc: Document, prov: Provenance = NO_PROVENANCE) -> dict[str, list[Row]]:
    """The line (or item) rows of one document or one part of it."""
    run_id, url, request_id, source = prov
    if isinstance(doc, InventorySnapshot):
        sup, wh, as_of = document_key(doc)
        issued, control = timestamp_text(doc.issued_at), doc.control_number
        return {"inventory_positions": [
            (sup, wh, as_of, i.sku, i.on_hand, i.available, i.uom,
             codes_text(i.codes) if i.codes else None, run_id, url, request_id, source,
             issued, control)
            for i in doc.items
        ]}
    sup = doc.supplier_id
    if isinstance(doc, PoAck):
        po, ack = doc.po_number, doc.ack_number
        return {"po_ack_lines": [
            (sup, po, ack, ln.line_number, ln.sku, ln.ordered_qty, ln.acked_qty, ln.uom,
             ln.unit_price, ln.line_status, _date(ln.promised_date),
             codes_text(ln.codes) if ln.codes else None, run_id, url, request_id, source)
            for ln in doc.lines
        ]}
    asn = doc.asn_number
    return {"ship_notice_lines": [
        (sup, asn, ln.line_seq, ln.po_number, ln.po_line_number, ln.sku, ln.shipped_qty,
         ln.uom, ln.container_id, ln.lot,
         codes_text(ln.codes) if ln.codes else None, run_id, url, request_id, source)
        for ln in doc.lines
    ]}


def inventory_values(doc: InventorySnapshot) -> list[Row]:
    """The per-item columns of ``inventory_positions`` (sku .. codes), without the key
    prefix and provenance, which are the same for the whole document: a bulk path binds
    those once and ships these as one JSON array (see the SQLite loader)."""
    return [
        (i.sku, i.on_hand, i.available, i.uom, codes_text(i.codes) if i.codes else None)
        for i in doc.items
    ]
# fmt: on


def rows_for(doc: Document, prov: Provenance = NO_PROVENANCE) -> dict[str, list[Row]]:
    """Every row of a whole document, per table, in column order."""
    return header_rows(doc, prov) | line_rows(doc, prov)


# -- versions and content hashes -------------------------------------------------------------

Version: TypeAlias = tuple[str | None, str | None]  # issued_at text, control_number


def version_of(doc: Document) -> Version:
    return (timestamp_text(doc.issued_at), doc.control_number)


def _plain_number(value: Any) -> Any:
    """The same number whatever the database gave back: SQLite keeps 12 and 12.5,
    PostgreSQL's numeric returns Decimal('12') and Decimal('12.5')."""
    if value is None or isinstance(value, int | str):
        return value
    number = float(value)
    return int(number) if number.is_integer() else number


def line_hash(on_hand: Any, available: Any, uom: str | None, codes: str | None) -> str:
    """SHA-256 of an inventory line's values (not its key, not its provenance): equal
    reports of one SKU hash alike, and the greatest hash wins a conflict (docs/contract.md §6)."""
    values = (_plain_number(on_hand), _plain_number(available), uom, codes)
    return hashlib.sha256(_encode(values)).hexdigest()


def item_line_hash(item: InventoryItem) -> str:
    """:func:`line_hash` of a decoded item (the simulator's ground truth uses it)."""
    return line_hash(item.on_hand, item.available, item.uom, codes_text(item.codes))


def version_key(version: Version) -> tuple[Any, ...]:
    """An orderable key: missing parts sort lowest; all-digit control numbers (X12 ISA13,
    EDIFACT UNB05) compare as numbers so that ``10`` is newer than ``9``."""
    issued, control = version
    issued_key = (
        dt.datetime.fromisoformat(issued) if issued else dt.datetime.min.replace(tzinfo=dt.UTC)
    )
    if control is None:
        control_key: tuple[int, Any] = (0, 0)
    elif control.isdigit():
        control_key = (1, int(control))
    else:
        control_key = (2, control)
    return (issued_key, control_key)


class DocHasher:
    """SHA-256 of a document's canonical encoding, fed part by part.

    The hash is that of the type name and the sorted-key JSON of the whole document, so a
    document sent whole (:func:`content_hash`, one encode) and the same document streamed
    in parts hash the same: the header's JSON is cut where the line array goes, and each
    part's lines are fed in between. Provenance is not part of a document, so it never
    changes the hash.
    """

    __slots__ = ("_h", "_header", "_lines", "_post", "_tag")

    def __init__(self, first: Document) -> None:
        self._tag = _TYPE_TAG[type(first)]
        self._header = _encode(_header_only(first))
        pre, self._post = _split_header(self._header, _LINES_FIELD[type(first)])
        self._h = hashlib.sha256(self._tag)
        self._h.update(pre)
        self._lines = 0

    def add(self, part: Document) -> None:
        lines = part.items if isinstance(part, InventorySnapshot) else part.lines
        if not lines:
            return
        encoded = _encode(lines)
        # "[a,b]" + "[c]" hashes like "[a,b,c]": drop the brackets, join parts with commas.
        if self._lines:
            self._h.update(b",")
        self._h.update(encoded[1:-1])
        self._lines += len(lines)

    def hexdigest(self) -> str:
        if not self._lines:  # no lines: the encoding omits the (default, empty) array
            return hashlib.sha256(self._tag + self._header).hexdigest()
        h = self._h.copy()
        h.update(self._post)
        return h.hexdigest()


_TYPE_TAG: Final = {t: t.__name__.encode() for t in (InventorySnapshot, PoAck, ShipNotice)}
_LINES_FIELD: Final = {InventorySnapshot: "items", PoAck: "lines", ShipNotice: "lines"}


def _split_header(header: bytes, field: str) -> tuple[bytes, bytes]:
    """The JSON of a whole document around its line array: ``{...,"items":[`` and
    ``],...}``, given the header's JSON (keys sorted, the empty array omitted)."""
    fields: dict[str, Any] = msgspec.json.decode(header)
    before = _encode({k: v for k, v in fields.items() if k < field})
    after = _encode({k: v for k, v in fields.items() if k > field})
    pre = before[:-1] + (b"," if len(before) > 2 else b"") + f'"{field}":['.encode()
    post = b"]" + (b"," + after[1:] if len(after) > 2 else b"}")
    return pre, post


def _header_only(doc: Document) -> Document:
    if isinstance(doc, InventorySnapshot):
        return msgspec.structs.replace(doc, items=[])
    return msgspec.structs.replace(doc, lines=[])


def content_hash(doc: Document | Iterable[Document]) -> str:
    """The content hash of a whole document (one encode), or of the parts of one
    streamed document."""
    if isinstance(doc, InventorySnapshot | PoAck | ShipNotice):
        h = hashlib.sha256(_TYPE_TAG[type(doc)])
        h.update(_encode(doc))
        return h.hexdigest()
    parts = list(doc)
    hasher = DocHasher(parts[0])
    for part in parts:
        hasher.add(part)
    return hasher.hexdigest()
