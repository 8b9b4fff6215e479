"""``supplyfeed reconcile``: current stock, totals, in transit, acknowledgment exceptions
and stale warehouse feeds, as tables, JSON or CSV (issue 15)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .._config import UnitConversion
from .._exceptions import ConfigError
from .._sink.factory import open_sink
from .._sink.findings_store import finding_rows
from .._sink.reconcile_json import SECTION_ORDER, write_json
from .._sink.reconcile_query import (
    Filters,
    ack_exception_rows,
    in_transit_rows,
    open_reader,
    position_rows,
    stale_partition_rows,
    top_position_rows,
    total_rows,
)
from .._sink.views import IN_TRANSIT_DAYS

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "POSITION_FIELDS",
    "SECTIONS",
    "ReconcileOptions",
    "answer",
    "reconcile",
    "run_command",
    "short_reconciliation",
]

# The answer's sections, in the order of --json's keys.
SECTIONS: Final = frozenset(SECTION_ORDER)
POSITION_FIELDS: Final = ("supplier_id", "warehouse_id", "sku", "on_hand", "available", "uom")
_SHOWN: Final = 20  # rows per table in the terminal; --json and --csv give them all


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    filters: Filters = field(default_factory=Filters)
    units: Sequence[UnitConversion] = ()
    sla_seconds: float = 900.0
    in_transit_days: int = IN_TRANSIT_DAYS
    output: str = "table"  # table | json | csv
    sections: frozenset[str] = SECTIONS  # --only: the sections asked for (JSON and tables)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


async def reconcile(url: str, options: ReconcileOptions) -> int:
    """Answer the operator's questions from the database at ``url``."""
    sink = open_sink(url, lock=False)
    await sink.open()  # creates the views on a database made before they existed
    await sink.close()
    if options.output == "json":
        await write_json(url, options, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    elif options.output == "csv":
        _write_csv(await _positions(url, options.filters))
    else:
        from .display import make_console  # rich's tables: not for --json and --csv

        _print_tables(make_console(), await answer(url, options))
    return 0


async def _positions(url: str, filters: Filters) -> list[dict[str, Any]]:
    """--csv prints the positions only: the other questions are not asked."""
    reader = await open_reader(url)
    try:
        return await position_rows(reader, filters)
    finally:
        await reader.close()


async def answer(url: str, options: ReconcileOptions) -> dict[str, list[dict[str, Any]]]:
    """Every section as rows (the terminal's tables; ``--json`` writes the same answer
    with :func:`write_json`, without making the rows Python objects)."""
    reader = await open_reader(url)
    f = options.filters
    limit = _SHOWN + 1 if options.output == "table" else None
    asked: dict[str, Callable[[], Awaitable[list[dict[str, Any]]]]] = {
        "positions": lambda: position_rows(reader, f, limit),
        "totals": lambda: total_rows(reader, f, options.units),
        "in_transit": lambda: in_transit_rows(
            reader, f, options.now.date(), options.in_transit_days
        ),
        "ack_exceptions": lambda: ack_exception_rows(reader, f),
        "stale_partitions": lambda: stale_partition_rows(
            reader, f, options.now, options.sla_seconds
        ),
        "findings": lambda: finding_rows(reader, f, options.units),
    }
    try:
        return {key: await asked[key]() for key in SECTION_ORDER if key in options.sections}
    finally:
        await reader.close()


async def short_reconciliation(url: str, console: Console, rows: int = 12) -> None:
    """The demo's closing note: the top SKUs of each warehouse (the first few
    warehouses), what is in transit, the acknowledgment exceptions and the findings."""
    reader = await open_reader(url)
    f = Filters()
    try:
        found = {
            "positions": await top_position_rows(reader, 3),
            "in_transit": await in_transit_rows(reader, f, _today(), IN_TRANSIT_DAYS),
            "ack_exceptions": await ack_exception_rows(reader, f),
            "findings": await finding_rows(reader, f),
        }
    finally:
        await reader.close()
    titles = {**dict(_TABLES), "positions": "Top SKUs per warehouse (on hand)"}
    _print_tables(console, found, titles, rows)


def _write_csv(positions: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=[*POSITION_FIELDS, "as_of"])
    writer.writeheader()
    writer.writerows(positions)


_TABLES: Final = (
    ("positions", "Current stock (latest snapshot per supplier and warehouse)"),
    ("totals", "Totals per SKU and unit"),
    ("in_transit", "In transit"),
    ("ack_exceptions", "Acknowledgment exceptions"),
    ("stale_partitions", "Stale warehouse feeds (older than the SLA)"),
    ("findings", "Rule findings"),
)


# Short headings: nine columns fit in 80 characters without cutting the values.
_LABELS: Final = {
    "supplier_id": "supplier", "warehouse_id": "warehouse", "asn_number": "asn",
    "po_number": "po", "line_number": "line", "ordered_qty": "ordered",
    "acked_qty": "acked", "line_status": "status", "promised_date": "promised",
    "expected_delivery": "expected", "ship_date": "shipped", "quantity": "qty",
    "age_seconds": "age s", "warehouses": "wh", "available": "avail",
}  # fmt: skip
# The reason says what the status would (backordered, rejected), in the space it frees.
_TERMINAL_HIDES: Final = frozenset({"line_status"})


def _print_tables(
    console: Console,
    found: dict[str, list[dict[str, Any]]],
    titles: dict[str, str] | None = None,
    shown: int = _SHOWN,
) -> None:
    from rich import box  # rich only for the terminal: --json and --csv start faster
    from rich.markup import escape
    from rich.table import Table

    for key, title in (titles or dict(_TABLES)).items():
        if key not in found:
            continue
        rows = found[key]
        if not rows:
            console.print(f"{title}: none")
            continue
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        names = [n for n in rows[0] if n not in _TERMINAL_HIDES]
        for name in names:
            numeric = _numeric(rows[0][name])
            table.add_column(_LABELS.get(name, name), justify="right" if numeric else "left")
        for row in rows[:shown]:
            table.add_row(*(escape("" if row[n] is None else str(row[n])) for n in names))
        console.print(table)
        if len(rows) > shown:
            console.print("... and more: --json lists them all")


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def run_command(args: argparse.Namespace) -> int:
    """``supplyfeed reconcile`` with its parsed arguments (main.py calls it here, not
    through commands.py: a question to the database needs none of the run's modules,
    which took 0.2 s to import)."""
    from .._feedsfile import load_feeds_file
    from .sink_url import existing_sink_url

    if args.in_transit_days < 0:
        raise ConfigError(f"--in-transit-days must be 0 or more, not {args.in_transit_days}")
    feeds = load_feeds_file(args.feeds) if args.feeds else None
    options = ReconcileOptions(
        filters=Filters(sku=args.sku, warehouse=args.warehouse, supplier=args.supplier),
        sections=_sections(args.only, args.csv),
        units=feeds.units if feeds is not None else (),
        sla_seconds=feeds.defaults.sla.seconds if feeds is not None else 900.0,
        in_transit_days=args.in_transit_days,
        output="json" if args.json else "csv" if args.csv else "table",
    )
    return asyncio.run(reconcile(existing_sink_url(args, feeds), options))


def _sections(only: str | None, csv: bool) -> frozenset[str]:
    """--only's sections (every one without it)."""
    if only is None:
        return SECTIONS
    if csv:
        raise ConfigError("--only is for --json and the tables: --csv prints the positions")
    asked = frozenset(name.strip() for name in only.split(",") if name.strip())
    if not asked or asked - SECTIONS:
        known = ", ".join(sorted(SECTIONS))
        raise ConfigError(f"--only takes sections among {known}, not {only!r}")
    return asked
