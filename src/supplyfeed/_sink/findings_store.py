"""Rule findings kept in ``sf_findings`` (issue 15).

At the end of every run (``Runner.run``) the rules of ``finding_rules.py`` are checked
against the database and what they find is inserted keyed by ``(rule, supplier_id,
document, line)``: a finding already stored is not added again, so a rerun over the same
data adds nothing, and the run summary's ``findings`` is the number this run added.

Checking the whole database costs seconds at millions of rows, so a run checks only the
rows it wrote (``live_findings(run_id=)``: nothing at all when it wrote no document, as a
re-poll of an unchanged fleet) when the run before it left the database checked (its
summary's ``findings_checked``), or when no other run wrote a document in it (a fresh
database: every row is this run's, and the whole check would read the same rows, the
missing-part rule's history at 10x the cost); otherwise it checks the whole database:
the first run after an upgrade that added the rules, a run after one that crashed, or
after one whose check failed. Either way the run then says it left the database checked.
``reconcile`` shows the stored findings and the live ones together, each once. When the
latest run left the database checked, the live ones are only what a run cannot check (the
``unknown_uom`` rule, with ``--feeds``): every other rule has already stored its findings
for every row, and checking them again read the whole database (0.75 s of a 2.7 s
answer at 5M inventory rows).

The ``unknown_uom`` rule needs the feeds file's ``uom:`` tables, which the run does not
carry: ``reconcile --feeds F`` checks it live with F's tables.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from .._config import UnitConversion
from .._exceptions import ConfigError, SinkError
from .finding_rules import Finding, live_findings, unit_findings
from .reconcile_query import Filters, Reader, open_reader, where_clause

__all__ = [
    "RecordedFindings",
    "checkable",
    "database_checked",
    "finding_rows",
    "record_findings",
    "stored_findings",
]

_log = logging.getLogger("supplyfeed.findings")

_COLUMNS: Final = ("rule", "supplier_id", "document", "line", "severity", "detail", "sku",
                   "warehouse_id")  # fmt: skip


@dataclass(frozen=True, slots=True)
class RecordedFindings:
    """What the run-end check stored, and whether the database is left checked."""

    new: int = 0  # rows this run added to sf_findings
    checked: bool = False  # the rules hold checked for the whole database, as left
    warnings: list[str] = field(default_factory=list)  # for the run summary
    scope: Scope | None = None  # what was read: the run's rows, or the whole database


Scope = Literal["run", "database"]


async def record_findings(url: str, run_id: str) -> RecordedFindings:
    """Check the rules for run ``run_id`` in the database at ``url`` (:func:`_check` says
    which rows) and store what is new. A database that is not SQL (``memory://``, a
    SQLite ``:memory:`` only the sink's connection sees) has nothing to check; a failure
    is a warning of the run, not a lost run."""
    if not checkable(url):
        return RecordedFindings()
    try:
        reader = await open_reader(url, write=True)
    except (SinkError, ConfigError) as exc:
        return _failed(exc)
    try:
        new, scope = await _check(reader, run_id, url)
        return RecordedFindings(new, checked=True, scope=scope)
    except SinkError as exc:
        return _failed(exc)
    finally:
        await reader.close()


_WROTE: Final = "SELECT 1 AS wrote FROM sf_documents WHERE run_id = ? LIMIT 1"
_OTHERS_WROTE: Final = "SELECT 1 AS wrote FROM sf_documents WHERE run_id <> ? LIMIT 1"
_PREVIOUS: Final = "SELECT summary FROM sf_runs WHERE run_id <> ? ORDER BY started_at DESC LIMIT 1"
_LATEST: Final = "SELECT summary FROM sf_runs ORDER BY started_at DESC LIMIT 1"


async def _check(reader: Reader, run_id: str, url: str) -> tuple[int, Scope]:
    """Check the rules and store what is new; the findings added, and what was read.
    Only the rows this run wrote after a checked run, or when no other run wrote any
    (none if it wrote no document: every row a rule reads comes with one, whose
    ``sf_documents`` row names the run that last wrote it; an unchanged document keeps
    the run that wrote it first); else the whole database."""
    run_scoped = await _previous_checked(reader, run_id) or await _alone(reader, run_id)
    if not run_scoped:
        return await _insert(reader, await _live(reader, url, None), run_id), "database"
    if not await reader.fetch(_WROTE, [run_id]):
        return 0, "run"
    return await _insert(reader, await _live(reader, url, run_id), run_id), "run"


async def _live(reader: Reader, url: str, run_id: str | None) -> list[Finding]:
    """The rules checked in two halves at once, on ``reader`` and on a second connection
    opened for it (only when a check runs: a re-poll that wrote nothing opens none)."""
    beside = await open_reader(url)
    try:
        return await live_findings(reader, Filters(), run_id=run_id, beside=beside)
    finally:
        await beside.close()


async def _alone(reader: Reader, run_id: str) -> bool:
    """Whether every document in the database is this run's (a fresh database)."""
    return not await reader.fetch(_OTHERS_WROTE, [run_id])


async def _previous_checked(reader: Reader, run_id: str) -> bool:
    """Whether the run before this one left the database checked (its summary says so)."""
    return _left_checked(await reader.fetch(_PREVIOUS, [run_id]))


async def database_checked(reader: Reader) -> bool:
    """Whether the latest run left the database checked: no row has been written since
    that the run-end check has not seen (a run under way, or one that crashed, is the
    latest and says nothing)."""
    return _left_checked(await reader.fetch(_LATEST, []))


def _left_checked(runs: list[dict[str, Any]]) -> bool:
    if not runs:
        return False
    summary = runs[0]["summary"]
    if isinstance(summary, str | bytes):
        summary = orjson.loads(summary)
    return isinstance(summary, dict) and summary.get("findings_checked") is True


def checkable(url: str) -> bool:
    """Whether ``url`` is a SQL database that other connections see."""
    if url.startswith(("postgresql:", "postgres:")):
        return True
    return url.startswith("sqlite:") and not url.endswith(":memory:")


def _failed(exc: Exception) -> RecordedFindings:
    message = f"rule findings not recorded: {exc}"
    _log.warning(message)
    return RecordedFindings(warnings=[message])


async def _insert(reader: Reader, found: list[Finding], run_id: str) -> int:
    if not found:
        return 0
    rows = [[getattr(f, c) for c in _COLUMNS] for f in found]
    now = dt.datetime.now(dt.UTC)  # text in SQLite (the reader converts it)
    names = ", ".join((*_COLUMNS, "run_id", "found_at"))
    if reader.dialect == "sqlite":
        marks = ", ".join("?" * (len(_COLUMNS) + 2))
        sql = f"INSERT INTO sf_findings ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        return await reader.execute_many(sql, [[*r, run_id, now] for r in rows])
    # PostgreSQL: one statement over arrays, one per column.
    arrays = ", ".join("?::text[]" for _ in _COLUMNS)
    sql = (
        f"INSERT INTO sf_findings ({names}) SELECT *, ?::text, ?::timestamptz "
        f"FROM unnest({arrays}) ON CONFLICT DO NOTHING"
    )
    columns = [list(c) for c in zip(*rows, strict=True)]
    return await reader.execute_many(sql, [[run_id, now, *columns]])


_STORED: Final = (
    "SELECT rule, supplier_id, document, line, severity, detail, sku, warehouse_id FROM sf_findings"
)


async def stored_findings(reader: Reader, filters: Filters) -> list[Finding]:
    """The findings kept by earlier runs, narrowed as :func:`finding_rules.matches` says."""
    where, params = where_clause(filters, {"supplier": "supplier_id", "sku": "sku"})
    if filters.warehouse is not None:  # ASN and acknowledgment findings name no warehouse
        where += f" {'AND' if where else 'WHERE'} (warehouse_id IS NULL OR warehouse_id = ?)"
        params.append(filters.warehouse)
    rows = await reader.fetch(_STORED + where, params)
    return [Finding(**row) for row in rows]


async def finding_rows(
    reader: Reader, filters: Filters, units: Sequence[UnitConversion] = ()
) -> list[dict[str, Any]]:
    """``rule, severity, supplier_id, document, detail`` of the stored findings and the
    live ones, each key once (the stored wording first: it says what was found when), in
    key order."""
    if await database_checked(reader):
        live = await unit_findings(reader, filters, units)
    else:
        live = await live_findings(reader, filters, units)
    merged = {f.key: f for f in live}
    merged.update({f.key: f for f in await stored_findings(reader, filters)})
    return [merged[k].public() for k in sorted(merged)]
