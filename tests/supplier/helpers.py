"""Fleets, runs and the row checker for the supplier-facing tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from supplyfeed._config import FeedConfig, SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._run.pipeline import Runner, RunOptions
from supplyfeed._run.summary import RunSummary
from supplyfeed._sink.base import Sink
from supplyfeed.sim import TABLES, Fault, FleetSpec, GroundTruth, LatencyModel, SupplierFleet

FAST = LatencyModel(median=0.002, sigma=0.2, max=0.02)
KEY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "inventory_positions": ("supplier_id", "warehouse_id", "sku", "as_of"),
    "po_acks": ("supplier_id", "po_number", "ack_number"),
    "po_ack_lines": ("supplier_id", "po_number", "ack_number", "line_number"),
    "ship_notices": ("supplier_id", "asn_number"),
    "ship_notice_lines": ("supplier_id", "asn_number", "line_seq"),
}
QUICK: Mapping[str, Any] = {
    "timeout_seconds": 2.0,
    "read_timeout": 2.0,
    "backoff_initial": 0.02,
    "backoff_max": 0.05,
    "batch_size": 20,
}


def fleet_spec(
    endpoints: int,
    *,
    hosts: int = 2,
    faults: Mapping[int, Fault] | None = None,
    latency: LatencyModel = FAST,
    records: int = 3,
    formats: tuple[str, ...] = ("json", "csv"),
) -> FleetSpec:
    """A fault-free fleet except ``faults[i]`` on endpoint ``i``."""
    base = FleetSpec.generate(
        endpoints=endpoints,
        hosts=hosts,
        records_per_endpoint=records,
        formats=formats,
        fault_rate=0.0,
        latency=latency,
        seed=5,
    )
    chosen = faults or {}
    eps = tuple(dataclasses.replace(e, fault=chosen.get(i)) for i, e in enumerate(base.endpoints))
    return dataclasses.replace(base, endpoints=eps)


def suppliers_of(
    fleet: SupplierFleet, **defaults: Any
) -> tuple[tuple[SupplierSpec, ...], FeedConfig]:
    """The fleet's feeds file, parsed like the CLI does: suppliers and the defaults."""
    doc = fleet.feeds_document(defaults={**QUICK, **defaults})
    feeds = parse_feeds(yaml.safe_dump(doc), "fleet.yaml", {})
    return feeds.suppliers, feeds.defaults


async def run(
    suppliers: tuple[SupplierSpec, ...],
    sink: Sink,
    config: FeedConfig,
    options: RunOptions | None = None,
) -> RunSummary:
    return await Runner(suppliers, sink, config, options).run()


async def table_keys(sink: Sink) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        rows = await sink.table_rows(table)
        out[table] = [tuple(r[c] for c in KEY_COLUMNS[table]) for r in rows]
    return out


async def assert_rows_match(sink: Sink, truth: GroundTruth) -> int:
    """Nothing lost, nothing duplicated, nothing unexpected; returns the row count."""
    total = 0
    for table, keys in (await table_keys(sink)).items():
        d = truth.compare(table, keys)
        assert d.ok, (table, d)
        total += len(keys)
    return total
