"""Terminal output: the live progress display and the run summary table."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .._sink.base import Outcome
from .._telemetry.render import print_report

__all__ = ["RichProgress", "make_console", "print_summary"]

_OK = (Outcome.LOADED, Outcome.UNCHANGED)


def make_console(*, stderr: bool = False) -> Console:
    return Console(file=sys.stderr if stderr else sys.stdout, width=None, highlight=False)


class RichProgress:
    """One line per feed kind: done/total, records, failures and ETA.

    Quiet when output is not a terminal (cron, CI, pipes): rich's live display would
    otherwise fill logs with redraws.
    """

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self._enabled = enabled and console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]{task.description:<20}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[records]:>9,} rec"),
            TextColumn("[red]{task.fields[failed]:>4} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not self._enabled,
        )
        self._tasks: dict[str, TaskID] = {}
        self._counts: dict[str, list[int]] = {}

    def start(self, totals: Mapping[str, int]) -> None:
        for kind, total in sorted(totals.items()):
            self._counts[kind] = [0, 0]
            self._tasks[kind] = self._progress.add_task(kind, total=total, records=0, failed=0)
        self._progress.start()

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        task = self._tasks.get(kind)
        if task is None:
            return
        counts = self._counts[kind]
        counts[0] += records
        counts[1] += outcome not in _OK
        self._progress.update(task, advance=1, records=counts[0], failed=counts[1])

    def stop(self) -> None:
        self._progress.stop()


_BUCKETS = ("unchanged", "stale", "superseded", "conflict")


def print_summary(console: Console, summary: Mapping[str, Any]) -> None:
    """The end-of-run summary: endpoints by outcome and failure reason, records, time."""
    flagged = summary.get("flagged", False)
    rate = summary.get("error_rate", 0.0)
    title = f"run {summary['run_id']}"
    if summary.get("interrupted"):
        title += "  [yellow](interrupted: finish it with `supplyfeed resume`)"
    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    outcomes = summary.get("outcomes", {})
    table.add_row("endpoints", f"{summary['endpoints']:,}")
    for name in ("loaded", "unchanged", "failed", "quarantined", "pending"):
        if outcomes.get(name):
            table.add_row(f"  {name}", f"{outcomes[name]:,}")
    if summary.get("quarantined_known"):
        known = summary["quarantined_known"]
        table.add_row("    already dead letters", f"{known:,} (same bytes as an earlier run)")
    for reason, n in summary.get("failures_by_reason", {}).items():
        table.add_row(f"    {reason}", f"{n:,}")
    buckets = summary.get("records_by_bucket") or {"loaded": summary["records"]}
    table.add_row("records loaded", f"{buckets.get('loaded', 0):,}")
    others = [f"{name} {buckets[name]:,}" for name in _BUCKETS if buckets.get(name)]
    if others:  # decoded = loaded + these (SPEC §6): nothing that arrived goes uncounted
        table.add_row("  not loaded", f"{' | '.join(others)} (of {summary['records']:,} decoded)")
    if summary.get("conflicts"):
        table.add_row(
            "conflicts", f"{summary['conflicts']:,} (supplyfeed report --json lists them)"
        )
    table.add_row("documents", f"{summary['documents']:,} ({summary['stale_documents']} stale)")
    table.add_row("bytes", f"{summary['bytes']:,}")
    table.add_row("wall time", f"{summary['wall_seconds']:.2f} s")
    style = "bold red" if flagged else "green"
    note = f"  FLAGGED: above {summary['error_rate_threshold']:.0%}" if flagged else ""
    table.add_row("error rate", f"[{style}]{rate:.2%}{note}")
    console.print(table)
    for warning in summary.get("warnings", []):  # e.g. TLS verification turned off
        console.print(f"[bold yellow]warning[/]: {escape(warning)}", highlight=False)
    print_report(console, summary.get("report") or {})
