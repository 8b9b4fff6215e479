"""``supplyfeed report [RUN_ID]``: a run's report, as a table or JSON."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from .._sink.base import Conflict, EndpointRecord, RunRecord
from .._sink.factory import open_sink
from .._telemetry.render import failures_table
from .._telemetry.report import failure_list
from .display import make_console, print_summary

__all__ = ["conflict_dict", "conflict_lines", "read_run", "show_report"]

_SHOWN: Final = 20  # conflicts listed in the table; --json lists them all


async def read_run(
    url: str, run_id: str | None
) -> tuple[RunRecord, list[EndpointRecord], list[Conflict]] | None:
    """The run (default: the latest), its ledger rows and its conflicts; None, with an
    error on stderr, when the database has no such run."""
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        run = await sink.get_run(run_id)
        if run is None:
            which = f"run {run_id}" if run_id else "any run"
            print(f"error: no record of {which} in {url}", file=sys.stderr)
            return None
        return run, await sink.endpoints(run.run_id), await sink.conflicts(run.run_id)
    finally:
        await sink.close()


async def show_report(url: str, run_id: str | None, *, as_json: bool) -> int:
    found = await read_run(url, run_id)
    if found is None:
        return 1
    run, records, conflicts = found
    # From the ledger, not the stored summary: a replay since, or a run that never
    # wrote its summary, still lists what failed.
    failures = failure_list(records)
    nested = {k: v for k, v in run.summary.get("report", {}).items() if k != "failures"}
    report = {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "feeds": run.feeds,
        **run.summary,
        **({"report": nested} if nested else {}),
        "failures": failures,
        "conflict_details": [conflict_dict(c) for c in conflicts],
    }
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(report) + b"\n")
    elif run.summary:
        if nested:  # the telemetry report's tables list the failures after the slowest
            print_summary(make_console(), {**report, "report": {**nested, "failures": failures}})
        else:
            print_summary(make_console(), report)
            print_failures(failures)
        for line in conflict_lines(conflicts):
            print(line)
    else:
        print(f"run {run.run_id}: {run.status}, no summary recorded (resume it to finish)")
        print_failures(failures)
    return 0


def print_failures(failures: Sequence[Mapping[str, Any]], limit: int | None = _SHOWN) -> None:
    """The failures table (the first ``limit``), as wide as the terminal, whole when piped."""
    if failures:
        console = make_console()
        width = console.width if console.is_terminal else None
        console.print(failures_table(failures, limit=limit, width=width), soft_wrap=True)


def conflict_dict(c: Conflict) -> dict[str, Any]:
    return {
        "doc_type": c.doc_type,
        "doc_key": c.doc_key,
        "line_key": c.line_key,
        "winner": {"source": c.winner.source, "request_id": c.winner.request_id,
                   "values": c.winner_values},
        "loser": {"source": c.loser.source, "request_id": c.loser.request_id,
                  "values": c.loser_values},
    }  # fmt: skip


def conflict_lines(conflicts: list[Conflict]) -> list[str]:
    """One line per conflict (the first few): what differed, who won, both request ids."""
    lines = []
    for c in conflicts[:_SHOWN]:
        line = f" line {c.line_key}" if c.line_key else ""
        lines.append(
            f"conflict {c.doc_type} {c.doc_key}{line}: kept {_values(c.winner_values)} from "
            f"{c.winner.source} (request {c.winner.request_id}), not "
            f"{_values(c.loser_values)} from {c.loser.source} (request {c.loser.request_id})"
        )
    if len(conflicts) > _SHOWN:
        lines.append(f"... and {len(conflicts) - _SHOWN} more (report --json lists them all)")
    return lines


def _values(values: Any) -> str:
    if isinstance(values, dict):  # a whole document: name it by its hash
        return f"content {str(values.get('content_hash'))[:12]}"
    return "/".join("" if v is None else str(v) for v in values[:3])
