"""``python -m bench [NAME ...]``: run benchmarks, each printing its own table.

Names: fetch (issue 2: bare aiohttp vs the guide vs supplyfeed), decoders (X12, EDIFACT,
XML records/s), sink (rows/s into SQLite and PostgreSQL), big (peak RSS of one 500 MB
payload), observability (telemetry on vs off), conditional (second run, unchanged fleet),
reconcile (``reconcile --json`` over millions of inventory rows), html (``report --html``
beside ``report`` and ``report --json``), progress (the progress model's cost).
With no name, runs ``fetch``. Extra arguments after ``--`` (or from the first flag on) go
to the benchmarks that take arguments (fetch, decoders, sink, big, observability, reconcile).
"""

from __future__ import annotations

import importlib
import inspect
import sys

BENCHES = {
    "fetch": "bench.fetch_bench",
    "decoders": "bench.decoders",
    "x12": "bench.decode_x12",
    "edifact": "bench.decode_edifact",
    "xml": "bench.decode_xml",
    "sink": "bench.sink_load",
    "big": "bench.big_payload",
    "observability": "bench.observability_overhead",
    "conditional": "bench.conditional_requests",
    "reconcile": "bench.reconcile",
    "scale": "bench.scale",
    "html": "bench.html_report",
    "progress": "bench.progress",
}


def main() -> None:
    args = sys.argv[1:]
    extra: list[str] = []
    if "--" in args:
        i = args.index("--")
        args, extra = args[:i], args[i + 1 :]
    if not extra and any(a.startswith("-") for a in args):  # flags without "--"
        i = next(i for i, a in enumerate(args) if a.startswith("-"))
        args, extra = args[:i], args[i:]
    names = args or ["fetch"]
    unknown = [name for name in names if name not in BENCHES]
    if unknown:  # before any benchmark runs, not after the first has taken minutes
        sys.exit(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHES)}")
    for name in names:
        print(f"\n== {name} ==")
        module = importlib.import_module(BENCHES[name])
        if inspect.signature(module.main).parameters:
            module.main(extra)  # benches that take arguments get those after "--"
        else:
            module.main()


if __name__ == "__main__":
    main()
