"""``python -m bench [NAME ...]``: run benchmarks, each printing its own table.

Names: fetch (issue 2: bare aiohttp vs the guide vs supplyfeed), decoders (X12, EDIFACT,
XML records/s), sink (rows/s into SQLite and PostgreSQL), big (peak RSS of one 500 MB
payload), observability (telemetry on vs off), conditional (second run, unchanged fleet),
reconcile (``reconcile --json`` over millions of inventory rows), html (``report --html``
beside ``report`` and ``report --json``), progress (the progress model's cost).
With no name, runs ``fetch``. Extra arguments after ``--`` go to the benchmarks that take
arguments (fetch, decoders, sink, big, observability, reconcile).
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
    names = args or ["fetch"]
    for name in names:
        if name not in BENCHES:
            sys.exit(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}")
        print(f"\n== {name} ==")
        module = importlib.import_module(BENCHES[name])
        if inspect.signature(module.main).parameters:
            module.main(extra)  # benches that take arguments get those after "--"
        else:
            module.main()


if __name__ == "__main__":
    main()
