"""``supplyfeed demo``: a simulated supplier fleet on 127.0.0.1, ingested end to end."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence

import yaml

from .._config import FeedConfig, SupplierSpec
from .._feedsfile import parse_feeds
from ..sim import FleetSpec, LatencyModel, SupplierFleet

__all__ = ["demo_fleet"]

Execute = Callable[
    [Sequence[SupplierSpec], FeedConfig, str, str, str | None, argparse.Namespace], Awaitable[int]
]
ALL_FORMATS = ("json", "csv", "x12", "edifact", "cxml", "xml")


async def demo_fleet(args: argparse.Namespace, execute: Execute) -> int:
    formats = tuple(f for f in args.formats.split(",") if f) or _available_formats()
    spec = FleetSpec.generate(
        endpoints=args.endpoints,
        hosts=args.hosts,
        records_per_endpoint=args.records,
        formats=formats,
        fault_rate=args.fault_rate,
        latency=LatencyModel(median=args.latency_ms / 1000.0, max=2.0),
        seed=args.seed,
    )
    # Short timeouts keep the demo snappy: a hanging endpoint costs 3 x 2 s, not 3 x 30 s.
    defaults = {
        "timeout_seconds": 2.0,
        "read_timeout": 2.0,
        "backoff_initial": 0.2,
        "seed": args.seed,
    }
    async with SupplierFleet(spec, seed=args.seed) as fleet:
        document = fleet.feeds_document(sink=args.db, defaults=defaults)
        feeds = parse_feeds(yaml.safe_dump(document, sort_keys=False), "<demo fleet>", {})
        if not args.quiet and not args.json:
            print(
                f"demo: {len(spec.endpoints)} endpoints on {spec.hosts} simulated supplier hosts "
                f"(127.0.0.1), formats {', '.join(formats)}, fault rate {args.fault_rate:.0%}"
            )
        return await execute(feeds.suppliers, feeds.defaults, args.db, "demo", None, args)


def _available_formats() -> tuple[str, ...]:
    from ..sim.render import get_renderer

    available = []
    for fmt in ALL_FORMATS:
        try:
            get_renderer(fmt)
        except Exception:  # a format whose renderer is not installed is left out of the demo
            continue
        available.append(fmt)
    return tuple(available)
