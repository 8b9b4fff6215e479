"""Terminal output: the live progress display and the run summary table.

On a terminal, tables fit the window. Off one (a pipe, a file, cron's mail), values are
printed whole, never cut to 80 columns, and lines carry no trailing padding.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any, Final, TextIO, cast

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .._fetch.outcome import AttemptRecord, FetchOutcome, FetchRequest
from .._redact import redact_url
from .._run.progress import ProgressModel, ProgressView
from .._sink.base import Outcome
from .._telemetry.render import print_report

__all__ = ["RichProgress", "make_console", "print_summary", "status_line"]

# Wide enough that no value is cut or wrapped off a terminal: rich would use 80.
_UNBOUNDED: Final = 100_000


def make_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream, width=None, highlight=False)
    trimmed = cast(IO[str], TrimmedLines(stream))  # rich needs write, flush and isatty
    return Console(file=trimmed, width=_UNBOUNDED, highlight=False)


class TrimmedLines:
    """A text stream that drops the trailing spaces rich pads table lines with."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._partial = ""

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        if lines:
            self._stream.write("".join(line.rstrip() + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._stream.write(self._partial)
            self._partial = ""
        self._stream.flush()


def _stderr_is_console(console: Console) -> bool:
    """Whether stderr is the terminal the display draws on (``run 2>err.log``: no)."""
    try:
        err, out = os.fstat(sys.stderr.fileno()), os.fstat(console.file.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return sys.stderr.isatty() and (err.st_dev, err.st_ino) == (out.st_dev, out.st_ino)


class _Display(Progress):
    """rich's Progress with one more line under the bars: what is on the wire."""

    def __init__(self, model: ProgressModel, *args: Any, **kwargs: Any) -> None:
        self._model = model  # before rich's __init__, which draws once
        super().__init__(*args, **kwargs)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield Text(status_line(self._model.view()), style="dim", no_wrap=True)


class RichProgress:
    """One line per feed kind (done/total, records, failures, elapsed time), then one
    line of what is in flight, retrying, the slowest request and the ETA.

    Quiet when output is not a terminal (cron, CI, pipes): rich's live display would
    otherwise fill logs with redraws. It takes over stderr only when stderr is the same
    terminal (log lines then print above the bars); ``2>err.log`` keeps them in the file.
    """

    def __init__(
        self, console: Console, *, enabled: bool = True, timeout_seconds: float = 30.0
    ) -> None:
        self._enabled = enabled and console.is_terminal
        self.model = ProgressModel(timeout=timeout_seconds)
        self._progress = _Display(
            self.model,
            TextColumn("[bold]{task.description:<20}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[records]:>9,} rec"),
            TextColumn("[red]{task.fields[failed]:>4} failed"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            redirect_stderr=self._enabled and _stderr_is_console(console),
            disable=not self._enabled,
        )
        self._tasks: dict[str, TaskID] = {}

    def start(self, totals: Mapping[str, int]) -> None:
        self.model.start(totals)
        for kind, total in sorted(totals.items()):
            self._tasks[kind] = self._progress.add_task(kind, total=total, records=0, failed=0)
        self._progress.start()

    def discovered(self, kind: str, count: int) -> None:
        self.model.discovered(kind, count)
        self._sync(kind)

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        self.model.advance(kind, outcome, records)
        self._sync(kind)

    def _sync(self, kind: str) -> None:
        if not self._enabled:  # nothing is drawn: no view of the model per endpoint
            return
        k = self.model.view().kinds[kind]
        task = self._tasks.get(kind)
        if task is None:
            task = self._tasks[kind] = self._progress.add_task(kind, total=k.total)
        self._progress.update(
            task, total=k.total, completed=k.done, records=k.records, failed=k.failed
        )

    def attempt_started(self, request: FetchRequest, request_id: str, attempt: int) -> None:
        self.model.attempt_started(request, request_id, attempt)

    def attempt_finished(
        self, request: FetchRequest, request_id: str, record: AttemptRecord
    ) -> None:
        self.model.attempt_finished(request, request_id, record)

    def finished(self, outcome: FetchOutcome) -> None:
        self.model.finished(outcome)

    def stop(self) -> None:
        self._progress.stop()


def status_line(view: ProgressView) -> str:
    """``in flight 12 | retrying 3 | slowest 4.2 s (try 2) URL | ETA 6 s``"""
    parts = [f"in flight {view.in_flight}", f"retrying {view.retrying}"]
    if view.slowest is not None:
        s = view.slowest
        again = f" (try {s.attempt})" if s.attempt > 1 else ""
        parts.append(f"slowest {s.seconds:.1f} s{again} {redact_url(s.url)}")
    parts.append("ETA -" if view.eta is None else f"ETA {_duration(view.eta)}")
    return " | ".join(parts)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return (
        f"{minutes} min {seconds:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


_BUCKETS = ("unchanged", "stale", "superseded", "conflict")


def _executor_row(executor: Mapping[str, Any]) -> str:
    """A scaled-out run (issue 16): where it ran, and shards run again after a lost worker."""
    shards = executor.get("shards", [])
    line = f"{executor['name']}: {executor['workers']} workers, {len(shards)} shards"
    if executor.get("reruns"):
        line += f", {executor['reruns']} attempt(s) run again (report --json: executor)"
    return line


def print_summary(console: Console, summary: Mapping[str, Any]) -> None:
    """The end-of-run summary: endpoints by outcome and failure reason, records, time."""
    title = f"run {summary['run_id']}"
    if summary.get("interrupted"):
        title += "  [yellow](interrupted: finish it with `supplyfeed resume`)"
    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for row in (*_endpoint_rows(summary), *_record_rows(summary), *_run_rows(summary)):
        table.add_row(*row)
    console.print(table)
    for warning in summary.get("warnings", []):  # e.g. TLS verification turned off
        console.print(f"[bold yellow]warning[/]: {escape(warning)}", highlight=False)
    print_report(console, summary.get("report") or {})


def _endpoint_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Endpoints by outcome, the known dead letters, the failure reasons."""
    outcomes = summary.get("outcomes", {})
    rows = [("endpoints", f"{summary['endpoints']:,}")]
    rows += [(f"  {name}", f"{outcomes[name]:,}") for name in _OUTCOMES if outcomes.get(name)]
    if summary.get("quarantined_known"):
        known = summary["quarantined_known"]
        rows.append(("    already dead letters", f"{known:,} (same bytes as an earlier run)"))
    rows += [(f"    {r}", f"{n:,}") for r, n in summary.get("failures_by_reason", {}).items()]
    return rows


def _record_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Records loaded and, by bucket, the ones that were not; conflicts; findings."""
    buckets = summary.get("records_by_bucket") or {"loaded": summary["records"]}
    rows = [("records loaded", f"{buckets.get('loaded', 0):,}")]
    others = [f"{name} {buckets[name]:,}" for name in _BUCKETS if buckets.get(name)]
    if others:  # decoded = loaded + these (docs/contract.md §6): nothing goes uncounted
        rows.append(("  not loaded", f"{' | '.join(others)} (of {summary['records']:,} decoded)"))
    if summary.get("conflicts"):
        rows.append(
            ("conflicts", f"{summary['conflicts']:,} (supplyfeed report --json lists them)")
        )
    if summary.get("findings"):
        rows.append(
            ("rule findings", f"{summary['findings']:,} new (supplyfeed reconcile lists them)")
        )
    return rows


def _run_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Documents, bytes, time, the executor and the error rate."""
    rows = [
        ("documents", f"{summary['documents']:,} ({summary['stale_documents']} stale)"),
        ("bytes", f"{summary['bytes']:,}"),
        ("wall time", f"{summary['wall_seconds']:.2f} s"),
    ]
    if summary.get("executor"):
        rows.append(("executor", _executor_row(summary["executor"])))
    flagged, rate = summary.get("flagged", False), summary.get("error_rate", 0.0)
    style = "bold red" if flagged else "green"
    note = f"  FLAGGED: above {summary['error_rate_threshold']:.0%}" if flagged else ""
    rows.append(("error rate", f"[{style}]{rate:.2%}{note}"))
    return rows


_OUTCOMES: Final = ("loaded", "unchanged", "failed", "quarantined", "pending")
