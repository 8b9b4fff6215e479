"""``python -m bench.operator_lists``: what an operator waits for after a bad run.

A SQLite database with one run of ENDPOINTS endpoints of which FAILED failed (404, 503,
timeouts) and LETTERS were quarantined. Two tables:

1. whole-process wall time (``python -m supplyfeed ...``, stdout to a pipe, as cron or
   ``| less`` reads it) of ``failures``, ``failures --json``, ``report``, ``report --json``,
   ``dead-letters`` and ``dead-letters --json``, median of REPEAT;
2. rendering the failures alone, in-process, two ways side by side: the plain aligned
   lines the commands print (``text_columns.fit_lines``) and a rich ``Table`` with the
   same columns (what ``dead-letters`` printed before), at 120 columns and unbounded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from supplyfeed._exceptions import PayloadError
from supplyfeed._formats.body import Body
from supplyfeed._models import DocKind, Document
from supplyfeed._run.summary import summarize
from supplyfeed._sink.base import Endpoint, EndpointRecord, LoadUnit, Outcome, RunRecord
from supplyfeed._sink.sqlite import SqliteSink
from supplyfeed._telemetry.report import failure_list
from supplyfeed._telemetry.text_columns import fit_lines

ENDPOINTS = 20_000
FAILED = 2_000
LETTERS = 500
REPEAT = 5
RUN = "bench-run"


def _endpoint(i: int) -> Endpoint:
    url = f"http://127.0.0.1:27500/SUP{i % 40:03d}/inventory/{i:06d}.json"
    return Endpoint(url, f"SUP{i % 40:03d}", DocKind.INVENTORY_SNAPSHOT, "json", url)


def _failed(i: int) -> EndpointRecord:
    status, kind = [(404, "http_404"), (503, "http_503"), (None, "timeout")][i % 3]
    return EndpointRecord(
        _endpoint(i), Outcome.FAILED, attempts=3, http_status=status, error_kind=kind,
        error_message=f"{kind}: the supplier said no (attempt 3 of 3)", request_id=f"{i:016x}",
    )  # fmt: skip


def _broken() -> Iterator[Document]:
    raise PayloadError("invalid JSON: expected ':' (byte 482)", where="$.items[7]")
    yield


async def _build(url: str) -> None:
    endpoints = [_endpoint(i) for i in range(ENDPOINTS)]
    async with SqliteSink(url) as sink:
        start = dt.datetime.now(dt.UTC)
        await sink.start_run(RunRecord(RUN, start, "running", feeds="bench"), endpoints)
        await sink.record([_failed(i) for i in range(FAILED)], RUN)
        units = []
        for i in range(FAILED, FAILED + LETTERS):
            record = EndpointRecord(_endpoint(i), Outcome.PENDING, attempts=1)
            record.request_id = f"{i:016x}"
            body = Body.from_bytes(b'{"items": [' + str(i).encode() * 40 + b"]")
            units.append(LoadUnit(RUN, record, body, _broken))
        await sink.load(units)
        records = await sink.endpoints(RUN)
        summary = summarize(RUN, records, wall_seconds=1.0, error_rate_threshold=0.02)
        await sink.finish_run(RUN, "finished", summary.to_dict())


def _wall(args: list[str]) -> float:
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "supplyfeed", *args], stdout=subprocess.PIPE, check=True
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rich(rows: Sequence[tuple[str, ...]], width: int | None) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width or 100_000, highlight=False)
    t = Table()
    for name in ("reason", "http", "try", "request id", "url", "message"):
        t.add_column(name, overflow="fold")
    for row in rows:
        t.add_row(*row)
    console.print(t)
    return out.getvalue()


def _plain(rows: Sequence[tuple[str, ...]], width: int | None) -> str:
    head = ("reason", "http", "try", "request id", "url", "message")
    return "\n".join(fit_lines(head, rows, width, flexible=(5, 4), right=(1, 2)))


def _time(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(_build(url))
        print(f"{ENDPOINTS:,} endpoints, {FAILED:,} failed, {LETTERS:,} dead letters; "
              f"median of {REPEAT}, stdout piped")  # fmt: skip
        print(f"{'command':<28}{'wall s':>8}")
        for args in (["failures"], ["failures", "--json"], ["report"], ["report", "--json"],
                     ["dead-letters"], ["dead-letters", "--json"], ["--version"]):  # fmt: skip
            extra = [] if args == ["--version"] else ["--db", url]
            print(f"{' '.join(args):<28}{_wall([*args, *extra]):>8.3f}")
        records = asyncio.run(_records(url))
    failures = failure_list(records)
    rows = [(f["error_kind"], str(f["status"] or "-"), str(f["attempts"]), f["request_id"],
             f["url"], f["message"]) for f in failures]  # fmt: skip
    print(f"\nrendering {len(rows):,} failures in-process (median of {REPEAT})")
    print(f"{'layout':<22}{'120 cols ms':>12}{'lines':>8}{'unbounded ms':>14}{'lines':>8}")
    for name, fn in (("plain lines", _plain), ("rich Table (fold)", _rich)):
        narrow, wide = fn(rows, 120), fn(rows, None)
        ms_narrow = _time(functools.partial(fn, rows, 120)) * 1000
        ms_wide = _time(functools.partial(fn, rows, None)) * 1000
        print(
            f"{name:<22}{ms_narrow:>12.1f}{narrow.count(chr(10)) + 1:>8,}"
            f"{ms_wide:>14.1f}{wide.count(chr(10)) + 1:>8,}"
        )


async def _records(url: str) -> list[EndpointRecord]:
    async with SqliteSink(url, lock=False) as sink:
        return await sink.endpoints(RUN)


if __name__ == "__main__":
    main()
