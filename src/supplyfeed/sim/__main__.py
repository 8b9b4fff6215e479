"""``python -m supplyfeed.sim serve ...``: a fleet in its own process.

Benchmarks run the client and the fleet in different processes so that each gets a core
(one aiohttp process tops out near 6-9k requests/s; sharing it with the server halves
that). Once every port listens, the fleet's description is written to ``--out``
atomically (a reader polling for the file never sees half of it), and ``--feeds`` a
feeds file for ``supplyfeed run`` (every endpoint, into ``--sink``); the process then
serves until SIGTERM or SIGINT and exits 0. A fixed ``--port-base`` keeps the URLs the
same from one start to the next, so a feeds file written once stays good.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .._models import DocKind
from .fleet_spec import TABLES, FleetSpec
from .latency import LatencyModel
from .server import SupplierFleet


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m supplyfeed.sim")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a simulated fleet until SIGTERM/SIGINT")
    serve.add_argument("--endpoints", type=int, default=500)
    serve.add_argument("--hosts", type=int, default=10)
    serve.add_argument("--records", type=int, default=20, help="line records per endpoint")
    serve.add_argument("--fault-rate", type=float, default=0.0)
    serve.add_argument(
        "--fault-mix",
        type=_fault_mix,
        default=None,
        help="weights by fault name, e.g. hang_once=3,fail_then_ok=5 (default: the usual mix)",
    )
    serve.add_argument(
        "--exact-mix",
        action="store_true",
        help="give the faults in exact proportion to the weights, not drawn at random",
    )
    serve.add_argument("--latency-ms", type=float, default=100.0, help="median latency")
    serve.add_argument("--formats", default="json,csv", help="comma-separated")
    serve.add_argument("--kinds", default=",".join(k.value for k in DocKind))
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--attempts", type=int, default=3, help="client attempts (for --out)")
    serve.add_argument("--timeout", type=float, default=30.0, help="client timeout (for --out)")
    serve.add_argument("--out", type=Path, default=None, help="where to write the fleet JSON")
    serve.add_argument(
        "--feeds",
        type=Path,
        default=None,
        help="write a feeds file for `supplyfeed run` listing every endpoint",
    )
    serve.add_argument(
        "--sink",
        default="sqlite:///supplyfeed.db",
        help="the sink the --feeds file names (default: %(default)s)",
    )
    serve.add_argument(
        "--port-base",
        type=int,
        default=0,
        help="serve host i on port BASE+i (default 0: ephemeral ports)",
    )
    return parser


def _fault_mix(value: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, _, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not NAME=WEIGHT: {part!r}") from None
    return mix


def _spec(args: argparse.Namespace) -> FleetSpec:
    median = args.latency_ms / 1000.0
    latency = (
        LatencyModel(median=median, max=max(median * 20, 0.0)) if median else LatencyModel.none()
    )
    return FleetSpec.generate(
        endpoints=args.endpoints,
        hosts=args.hosts,
        records_per_endpoint=args.records,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        kinds=tuple(DocKind(k.strip()) for k in args.kinds.split(",") if k.strip()),
        fault_rate=args.fault_rate,
        fault_mix=args.fault_mix,
        exact_mix=args.exact_mix,
        latency=latency,
        seed=args.seed,
    )


def _ports(base: int, hosts: int) -> list[int]:
    if base and not 0 < base <= 65536 - hosts:
        raise ValueError(f"--port-base {base}: ports {base}..{base + hosts - 1} are not all valid")
    return [base + i for i in range(hosts)] if base else []


def describe(fleet: SupplierFleet, attempts: int, timeout: float) -> dict[str, Any]:
    """Every URL with its expected outcome and row count, plus totals and a feeds file."""
    truth = fleet.expected(attempts=attempts, timeout=timeout)
    endpoints = [
        {
            "url": fleet.url_of(ep),
            "supplier_id": ep.supplier_id,
            "kind": ep.kind.value,
            "format": ep.format,
            "fault": ep.fault.kind if ep.fault else None,
            "expected": truth.outcomes[fleet.url_of(ep)],
            "rows": truth.row_counts[fleet.url_of(ep)],
        }
        for ep in fleet.spec.endpoints
    ]
    return {
        "pid": os.getpid(),
        "ports": fleet.ports,
        "seed": fleet.seed,
        "attempts": attempts,
        "timeout": timeout,
        "endpoints": endpoints,
        "totals": {
            "outcomes": dict(Counter(e["expected"] for e in endpoints)),
            "rows": {table: len(truth.rows(table)) for table in TABLES},
        },
        "feeds": fleet.feeds_document(),
    }


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def _serve(spec: FleetSpec, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with SupplierFleet(
        spec, seed=args.seed, ports=_ports(args.port_base, args.hosts)
    ) as fleet:
        if args.feeds is not None:
            feeds = fleet.feeds_document(sink=args.sink)
            _write_atomically(args.feeds, yaml.safe_dump(feeds, sort_keys=False))
        if args.out is not None:
            data = describe(fleet, args.attempts, args.timeout)
            _write_atomically(args.out, json.dumps(data, indent=1))
        print(
            f"serving {len(fleet.spec.endpoints)} endpoints on ports {fleet.ports}", file=sys.stderr
        )
        await stop.wait()
        print(f"stopping after {fleet.stats.total_requests} requests", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        spec = _spec(args)  # bad arguments fail before any port opens
        _ports(args.port_base, args.hosts)
    except (ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(spec, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
