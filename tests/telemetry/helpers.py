"""A small simulated fleet run through the real Runner with telemetry on."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from supplyfeed._feedsfile import FeedsFile, parse_feeds
from supplyfeed._fetch.transport import Transport
from supplyfeed._run.pipeline import Runner, RunOptions
from supplyfeed._run.summary import RunSummary
from supplyfeed._sink.base import EndpointRecord, Sink
from supplyfeed._sink.factory import open_sink
from supplyfeed._telemetry import Telemetry
from supplyfeed.sim import Fault, FleetSpec, LatencyModel, SupplierFleet


def fleet_spec(
    endpoints: int,
    *,
    hosts: int = 1,
    latency: float = 0.01,
    faults: Mapping[int, Fault] | None = None,
) -> FleetSpec:
    base = FleetSpec.generate(
        endpoints=endpoints,
        hosts=hosts,
        records_per_endpoint=3,
        formats=("json",),
        fault_rate=0.0,
        latency=LatencyModel(median=latency, sigma=0.01, max=latency * 2),
        seed=5,
    )
    chosen = faults or {}
    eps = tuple(dataclasses.replace(e, fault=chosen.get(i)) for i, e in enumerate(base.endpoints))
    return dataclasses.replace(base, endpoints=eps)


def feeds_for(fleet: SupplierFleet, sink_url: str, **defaults: Any) -> FeedsFile:
    doc = fleet.feeds_document(sink=sink_url, defaults=defaults or None)
    return parse_feeds(yaml.safe_dump(doc, sort_keys=False), "<test fleet>", {})


async def run(
    feeds: FeedsFile, sink: Sink, telemetry: Telemetry, transport: Transport | None = None
) -> RunSummary:
    options = RunOptions(label="test", telemetry=telemetry, transport=transport)
    return await Runner(feeds.suppliers, sink, feeds.defaults, options).run()


async def run_and_read(
    feeds: FeedsFile, url: str, telemetry: Telemetry
) -> tuple[RunSummary, list[EndpointRecord]]:
    """A run into the database at ``url`` (opened for it), and the run's ledger rows."""
    sink = open_sink(url)
    await sink.open()
    try:
        summary = await run(feeds, sink, telemetry)
        return summary, await sink.endpoints(summary.run_id)
    finally:
        await sink.close()


def findings(summary: RunSummary, kind: str) -> list[dict[str, str]]:
    return [f for f in summary.report["findings"] if f["kind"] == kind]
