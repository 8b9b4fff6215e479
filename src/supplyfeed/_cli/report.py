"""``supplyfeed report [RUN_ID]``: a run's report, as a table or JSON."""

from __future__ import annotations

import sys

import msgspec

from .._sink.factory import open_sink
from .display import make_console, print_summary

__all__ = ["show_report"]


async def show_report(url: str, run_id: str | None, *, as_json: bool) -> int:
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        run = await sink.get_run(run_id)
    finally:
        await sink.close()
    if run is None:
        which = f"run {run_id}" if run_id else "any run"
        print(f"error: no record of {which} in {url}", file=sys.stderr)
        return 1
    report = {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "feeds": run.feeds,
        **run.summary,
    }
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(report) + b"\n")
    elif run.summary:
        print_summary(make_console(), report)
    else:
        print(f"run {run.run_id}: {run.status}, no summary recorded (resume it to finish)")
    return 0
