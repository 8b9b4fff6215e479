"""``supplyfeed trace REQUEST_ID``: from a request id in a log line to everything it led to.

Every log line of a fetch carries ``request_id`` (the id also sent to the supplier in the
request-id header). This command finds its ledger row with the retry history, the dead
letter it created or met again, and how many rows of each table it wrote.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from .._sink.base import DeadLetter, EndpointRecord, RequestTrace
from .._sink.factory import open_sink
from .dead_letters import letter_dict
from .report import conflict_dict, conflict_lines

__all__ = ["show_trace"]


async def show_trace(url: str, request_id: str, *, as_json: bool) -> int:
    """Exit code 0 when anything carries the id, 1 when nothing does."""
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        trace = await sink.trace(request_id)
        conflicts = [
            c
            for c in await sink.conflicts()
            if request_id in (c.winner.request_id, c.loser.request_id)
        ]
    finally:
        await sink.close()
    found = trace.found or bool(conflicts)
    if as_json:
        out = trace_dict(trace) | {"conflicts": [conflict_dict(c) for c in conflicts]}
        sys.stdout.buffer.write(msgspec.json.encode(out | {"found": found}) + b"\n")
    elif found:
        print("\n".join(trace_lines(trace) + [f"  {line}" for line in conflict_lines(conflicts)]))
    else:
        print(f"error: nothing in {url} carries request id {request_id}", file=sys.stderr)
    return 0 if found else 1


def trace_lines(trace: RequestTrace) -> list[str]:
    lines = [f"request {trace.request_id}"]
    for run_id, record in trace.endpoints:
        lines += _endpoint_lines(run_id, record)
    for letter in trace.dead_letters:
        lines += _letter_lines(letter, trace.request_id)
    written = ", ".join(f"{t} {n:,}" for t, n in trace.rows.items() if n)
    lines.append(f"  rows        {written or 'none carry this request id'}")
    return lines


def _endpoint_lines(run_id: str, r: EndpointRecord) -> list[str]:
    error = f" ({r.error_kind}: {r.error_message})" if r.error_kind else ""
    lines = [
        f"  run         {run_id}",
        f"  endpoint    {r.endpoint.supplier_id} {r.endpoint.kind.value} {r.endpoint.url}",
        f"  outcome     {r.outcome.value}{error}",
        f"  attempts    {r.attempts} in {r.elapsed:.3f} s, {r.records:,} records, "
        f"{r.bytes:,} bytes",
        f"  records     loaded {r.records_loaded:,}, unchanged {r.records_unchanged:,}, "
        f"stale {r.records_stale:,}, superseded {r.records_superseded:,}, "
        f"conflict {r.records_conflict:,}",
    ]
    for a in r.retry_history:
        status = "" if a.get("status") is None else f" HTTP {a['status']}"
        wait = f", then waited {a['wait']:.3f} s" if a.get("wait") else ""
        role = _hedge_role(a)
        lines.append(
            f"    #{a['attempt']}  {a['outcome']}{status} in {a['elapsed']:.3f} s{wait}{role}"
        )
    return lines


def _letter_lines(d: DeadLetter, request_id: str) -> list[str]:
    state = "open" if d.resolved_at is None else f"resolved {d.resolved_at:%Y-%m-%d %H:%M}"
    how = (
        "created by this request"
        if d.request_id == request_id
        else f"first quarantined by request {d.request_id} in run {d.run_id}"
    )
    return [
        f"  dead letter {d.id} ({state}; {how}; met by {d.occurrences} run(s))",
        f"    {d.error_kind} at {d.error_where}: {d.error_message}",
        f"    {d.size:,} bytes, sha256 {d.sha256}",
    ]


def trace_dict(trace: RequestTrace) -> dict[str, Any]:
    return {
        "request_id": trace.request_id,
        "found": trace.found,
        "endpoints": [
            {
                "run_id": run_id,
                "endpoint_key": r.endpoint.key,
                "supplier_id": r.endpoint.supplier_id,
                "url": r.endpoint.url,
                "outcome": r.outcome.value,
                "http_status": r.http_status,
                "error_kind": r.error_kind,
                "error_message": r.error_message,
                "attempts": r.attempts,
                "elapsed": r.elapsed,
                "records": r.records,
                "records_by_bucket": {
                    b: getattr(r, f"records_{b}")
                    for b in ("loaded", "unchanged", "stale", "superseded", "conflict")
                },
                "retry_history": r.retry_history,
            }
            for run_id, r in trace.endpoints
        ],
        "dead_letters": [letter_dict(d) for d in trace.dead_letters],
        "rows": trace.rows,
    }


def _hedge_role(a: dict[str, Any]) -> str:
    """Of a hedged attempt's two requests (``_fetch/hedging.py``): which one this was, and
    whether its answer was taken."""
    if a.get("won") is None:
        return ""
    who = "hedge" if a.get("hedge") else "first request"
    return f" ({who}, {'won' if a['won'] else 'lost'})"
