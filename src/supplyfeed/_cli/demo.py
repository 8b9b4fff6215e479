"""``supplyfeed demo``: a simulated supplier fleet on 127.0.0.1, ingested end to end.

Besides the generated fleet (``--endpoints`` over ``--hosts``, every format, the fault
mix), five suppliers stand for the systems real partners run (``supplyfeed.sim``):

- ``PAGED``: a JSON API read page by page, one feed per pagination style;
- ``OAUTH``: an API behind an OAuth2 token endpoint (client credentials; the made-up
  secret reaches the feeds file only as ``${SIM_OAUTH_CLIENT_SECRET}``);
- ``QUOTA``: answers carry ``RateLimit-*`` headers and a burst past the budget gets 429
  with ``Retry-After``;
- ``BUSY``: a host that slows down and then refuses load (adaptive concurrency on);
- ``SFTP``: EDI and JSON files in a partner's SFTP drop folder (password from
  ``${SIM_SFTP_PASSWORD}``, host key checked);
- ``PARTS``: one warehouse's snapshot split over three URLs (product lines sharing a few
  SKUs), and two snapshots that a second demo into the same SQLite database finds
  corrected (same ``as_of``, new quantities: one by a later version, one by re-poll).

Every host listens on a fixed port (from ``SUPPLYFEED_DEMO_PORT_BASE``, default 27500; a
taken port falls back to an ephemeral one), so a second ``supplyfeed demo`` into the
same database sees the same endpoints: ETags and body hashes make most of them
``unchanged``, with nothing decoded or written twice.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from .._exceptions import ConfigError
from .._feedsfile import DEFAULT_SINK, parse_feeds
from .._models import DocKind
from ..sim import (
    Degradation,
    FleetSpec,
    HostBehaviour,
    LatencyModel,
    RateLimit,
    SftpDrop,
    SupplierFleet,
    TokenEndpoint,
)
from ..sim.identity import corrected_snapshot, split_snapshot
from ..sim.paged import STYLES, page_supplier
from .demo_resume import DemoState, demo_label
from .every import Execute

__all__ = ["DemoPlan", "demo_fleet", "demo_plan"]

ALL_FORMATS = ("json", "csv", "x12", "edifact", "cxml", "xml")
PORT_BASE_ENV: Final = "SUPPLYFEED_DEMO_PORT_BASE"
DEFAULT_PORT_BASE: Final = 27500  # below Linux's ephemeral range (32768-60999)
_EXTRA_PORTS: Final = 10  # base: SFTP; base+1..: the extra hosts; base+10..: the fleet

# Short ids keep the report's per-supplier table within 80 columns.
PAGED, OAUTH, RATED, DEGRADING, SFTP = "PAGED", "OAUTH", "QUOTA", "BUSY", "SFTP"
PARTS: Final = "PARTS"
RATE_LIMIT: Final = RateLimit(limit=8, window=1.0)
DEGRADE: Final = Degradation(capacity=4, overload=6, step=0.03)


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """What the demo serves: the fleet (generated hosts, then the extra ones), each extra
    host's behaviour, the SFTP drop's files, and the ports asked for."""

    fleet: FleetSpec
    behaviours: Mapping[int, HostBehaviour]
    paged: str | None  # the supplier read through pages (None without JSON)
    drop: FleetSpec
    formats: tuple[str, ...]
    ports: tuple[int, ...]  # per fleet host; 0: ephemeral
    sftp_port: int


def demo_plan(args: argparse.Namespace, port_base: int) -> DemoPlan:
    formats = tuple(f for f in args.formats.split(",") if f) or _available_formats()
    latency = LatencyModel(median=args.latency_ms / 1000.0, max=2.0)
    main = FleetSpec.generate(
        endpoints=args.endpoints,
        hosts=args.hosts,
        records_per_endpoint=args.records,
        formats=formats,
        fault_rate=args.fault_rate,
        latency=latency,
        seed=args.seed,
    )

    def extra(supplier: str, endpoints: int, fmts: Sequence[str], **kw: Any) -> FleetSpec:
        return FleetSpec.generate(
            endpoints=endpoints,
            hosts=1,
            suppliers=[supplier],
            records_per_endpoint=args.records,
            formats=fmts,
            latency=latency,
            seed=args.seed,
            **kw,
        )

    specs = [main]
    behaviours: dict[int, HostBehaviour] = {}
    paged = PAGED if "json" in formats else None
    if paged:  # one endpoint per paging style; PO acks and ASNs hold several documents
        specs.append(
            extra(PAGED, len(STYLES), ("json",), kinds=(DocKind.PO_ACK, DocKind.SHIP_NOTICE))
        )
    for supplier, endpoints, behaviour in (
        (OAUTH, 10, HostBehaviour(oauth2=TokenEndpoint(client_id="supplyfeed-demo"))),
        (RATED, 12, HostBehaviour(rate_limit=RATE_LIMIT)),
        (DEGRADING, 20, HostBehaviour(degrade=DEGRADE)),
    ):
        behaviours[sum(s.hosts for s in specs)] = behaviour
        specs.append(extra(supplier, endpoints, formats))
    specs.append(_parts_supplier(formats, args.seed))
    fleet = FleetSpec.combine(*specs)
    drop_formats = tuple(f for f in ("x12", "edifact", "json") if f in formats) or formats
    drop = extra(SFTP, 6, drop_formats)
    return DemoPlan(
        fleet=fleet,
        behaviours=behaviours,
        paged=paged,
        drop=drop,
        formats=formats,
        ports=_ports(port_base, main.hosts, fleet.hosts),
        sftp_port=port_base,
    )


def _parts_supplier(formats: Sequence[str], seed: int) -> FleetSpec:
    """PARTS: a snapshot in three parts, and two snapshots corrected in poll round 1."""
    fmt = "json" if "json" in formats else formats[0]
    fix = "csv" if "csv" in formats else fmt
    endpoints = (
        *split_snapshot(PARTS, fmt, parts=3, items=6, overlap="equal", seed=seed),
        corrected_snapshot(PARTS, fmt, by="version", warehouse="W02", seed=seed),
        corrected_snapshot(PARTS, fix, by="repoll", warehouse="W03", seed=seed),
    )
    return FleetSpec(endpoints=endpoints, hosts=1)


def _second_run(db: str) -> bool:
    """A SQLite database that exists already: the PARTS corrections are served."""
    if not db.startswith("sqlite:///"):
        return False
    from .._sink.sqlite import sqlite_path  # the sink module only when a demo runs

    path = sqlite_path(db)
    return path != ":memory:" and Path(path).exists()


def _ports(base: int, main_hosts: int, hosts: int) -> tuple[int, ...]:
    if not base:
        return ()
    extras = [base + 1 + i for i in range(hosts - main_hosts)]
    fleet = [base + _EXTRA_PORTS + i for i in range(main_hosts)]
    return tuple(p if p < 65536 else 0 for p in fleet + extras)


def _port_base(args: argparse.Namespace) -> int:
    value = getattr(args, "port_base", None)
    if value is None:
        raw = os.environ.get(PORT_BASE_ENV, "")
        try:
            value = int(raw) if raw.strip() else DEFAULT_PORT_BASE
        except ValueError:
            raise ConfigError(f"{PORT_BASE_ENV} must be a port number, not {raw!r}") from None
    if not 0 <= value < 65536 - _EXTRA_PORTS:
        raise ConfigError(f"demo port base {value} is out of range (0: ephemeral ports)")
    return int(value)


async def demo_fleet(
    args: argparse.Namespace, execute: Execute, *, resume: tuple[str, DemoState] | None = None
) -> int:
    """Serve the fleet and run it; ``resume``: (run id, what it served) to continue."""
    port_base = _port_base(args)
    plan = demo_plan(args, port_base)
    # Short timeouts keep the demo snappy: a hanging endpoint costs 3 x 2 s, not 3 x 30 s.
    defaults = {
        "timeout_seconds": 2.0,
        "read_timeout": 2.0,
        "backoff_initial": 0.2,
        "seed": args.seed,
        # The fleet's 10% fault mix leaves about 2-3% of endpoints failed or quarantined
        # by design (404s, malformed payloads): the demo ends 0 unless more go wrong.
        "error_rate_threshold": 0.05,
    }
    show = not args.quiet and not args.json
    with tempfile.TemporaryDirectory(prefix="supplyfeed-demo-sftp-") as sftp_dir:
        async with (
            SupplierFleet(
                plan.fleet, seed=args.seed, behaviours=plan.behaviours, ports=plan.ports
            ) as fleet,
            SftpDrop(plan.drop, Path(sftp_dir), port=plan.sftp_port) as drop,
        ):
            fixed = bool(plan.ports) and not fleet.moved_ports and drop.moved_port is None
            if resume is not None and not fixed:
                raise ConfigError(_ports_taken(resume[0], fleet, drop))
            corrected = resume[1].round == 1 if resume else _second_run(args.db)
            if corrected:
                fleet.advance()  # PARTS serves its corrections
            document = _feeds_document(plan, fleet, drop, args.db, defaults)
            env = {**fleet.env, **drop.env}  # made-up secrets, never written anywhere
            feeds = parse_feeds(yaml.safe_dump(document, sort_keys=False), "<demo fleet>", env)
            if show:
                _print_plan(args, plan, fleet, drop, corrected)
            label = demo_label(args, port_base, int(corrected), fixed)
            run_id = resume[0] if resume else None
            status = await execute(feeds.suppliers, feeds.defaults, args.db, label, run_id, args)
            if show:
                _print_extras(plan, fleet, drop)
                await _reconciliation(args.db)
            if status:
                await _how_to_finish(args.db)
            return status


def _ports_taken(run_id: str, fleet: SupplierFleet, drop: SftpDrop) -> str:
    taken = sorted(fleet.moved_ports) + ([drop.moved_port[0]] if drop.moved_port else [])
    return (
        f"cannot resume demo run {run_id}: port(s) {', '.join(map(str, taken))} are taken now, "
        "and its endpoints must be served at the same URLs; free them and resume again"
    )


async def _how_to_finish(db: str) -> None:
    """An interrupted demo names the command that finishes it (the simulator included)."""
    if db.startswith("memory:"):
        return  # the in-process fake is gone with this process
    from .._sink.factory import open_sink

    sink = open_sink(db, lock=False)
    await sink.open()
    try:
        run = await sink.get_run(None)
    finally:
        await sink.close()
    if run is not None and run.status == "interrupted":
        where = "" if db == DEFAULT_SINK else f" --db {shlex.quote(db)}"
        print(f"demo: to finish run {run.run_id}: supplyfeed resume{where}", file=sys.stderr)


async def _reconciliation(db: str) -> None:
    """What the loaded feeds answer (``supplyfeed reconcile``), in short."""
    if db.startswith("memory:"):
        return  # the in-process fake has no SQL to ask
    from .display import make_console
    from .reconcile import short_reconciliation

    _say(f"reconciliation (supplyfeed reconcile --db {db} for all of it):")
    await short_reconciliation(db, make_console())


def _feeds_document(
    plan: DemoPlan,
    fleet: SupplierFleet,
    drop: SftpDrop,
    sink: str,
    defaults: Mapping[str, object],
) -> dict[str, Any]:
    document = fleet.feeds_document(sink=sink, defaults=defaults)
    if plan.paged:
        page_supplier(document, plan.paged)
    for supplier in document["suppliers"]:
        if supplier["id"] == DEGRADING:  # back off on its 503s and latency, not hammer it
            supplier["overrides"] = {"adaptive_concurrency": True}
    document["suppliers"] += drop.suppliers(login="password")
    return document


def _say(text: str) -> None:
    print(textwrap.fill(text, width=80, subsequent_indent="      ", break_on_hyphens=False))


def _print_plan(
    args: argparse.Namespace,
    plan: DemoPlan,
    fleet: SupplierFleet,
    drop: SftpDrop,
    corrected: bool,
) -> None:
    _say(
        f"demo: {args.endpoints} endpoints on {args.hosts} simulated supplier hosts "
        f"(127.0.0.1), fault rate {args.fault_rate:.0%}, formats {', '.join(plan.formats)}"
    )
    systems = [
        f"{OAUTH} OAuth2 client credentials",
        f"{RATED} RateLimit headers ({RATE_LIMIT.limit} requests/s)",
        f"{DEGRADING} degrades past {DEGRADE.capacity} in flight (adaptive concurrency)",
        f"{SFTP} drop folder of {len(plan.drop.endpoints)} EDI/JSON files",
        f"{PARTS} a snapshot split over 3 URLs; 2 snapshots "
        + ("corrected now (same as_of, new quantities)" if corrected else "corrected next run"),
    ]
    if plan.paged:
        systems.insert(0, f"{PAGED} paged JSON ({', '.join(STYLES)})")
    _say("demo: supplier systems: " + "; ".join(systems))
    ports = [*fleet.ports, drop.port]
    moved = dict(fleet.moved_ports)
    if drop.moved_port:
        moved[drop.moved_port[0]] = drop.moved_port[1]
    if not plan.ports:
        _say("demo: ephemeral ports: a second run will not recognise these endpoints")
    elif moved:
        taken = ", ".join(f"{w} (now {g})" for w, g in sorted(moved.items()))
        _say(f"demo: ports taken, ephemeral instead: {taken}; see {PORT_BASE_ENV}")
    else:
        _say(f"demo: ports {min(ports)}-{max(ports)}; run again to see unchanged endpoints")


def _print_extras(plan: DemoPlan, fleet: SupplierFleet, drop: SftpDrop) -> None:
    counters = [fleet.host_counters(host) for host in plan.behaviours]
    busy = next(h for h, b in plan.behaviours.items() if b.degrade is not None)
    moved = sum(1 for ep in plan.drop.endpoints if not drop.local_path(ep).exists())
    _say(
        f"supplier systems: {sum(c.tokens_issued for c in counters)} OAuth2 token(s) issued; "
        f"{sum(c.rate_limited for c in counters)} request(s) over the rate limit (429); "
        f"{DEGRADING} peaked at {fleet.stats.peak_in_flight(fleet.ports[busy])} in flight, "
        f"{sum(c.overloaded for c in counters)} refused (503); "
        f"{moved} of {len(plan.drop.endpoints)} SFTP files moved to done/"
    )


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
