"""``supplyfeed failures [RUN_ID]``: the endpoints of a run that failed or were
quarantined, each with its reason, HTTP status, attempts and request id."""

from __future__ import annotations

import sys

import msgspec

from .._telemetry.report import failure_list
from .report import print_failures, read_run

__all__ = ["show_failures"]


async def show_failures(url: str, run_id: str | None, *, as_json: bool) -> int:
    """Exit 0 with the list (empty when nothing failed), 1 when there is no such run."""
    found = await read_run(url, run_id)
    if found is None:
        return 1
    run, records, _conflicts = found
    failures = failure_list(records)
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(failures) + b"\n")
    elif failures:
        print_failures(failures, limit=None)
    else:
        print(f"run {run.run_id}: no failed or quarantined endpoint")
    return 0
