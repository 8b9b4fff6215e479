"""Fleets for the engine tests: small, fast, and with chosen faults on chosen endpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from supplyfeed.sim import Fault, FleetSpec, LatencyModel

FAST = LatencyModel(median=0.005, sigma=0.2, max=0.05)


def fleet_spec(
    endpoints: int,
    *,
    hosts: int = 2,
    faults: Mapping[int, Fault] | None = None,
    latency: LatencyModel = FAST,
    records: int = 3,
) -> FleetSpec:
    """A JSON fleet with ``faults[i]`` on endpoint ``i`` and no other fault."""
    base = FleetSpec.generate(
        endpoints=endpoints,
        hosts=hosts,
        records_per_endpoint=records,
        formats=("json",),
        fault_rate=0.0,
        latency=latency,
        seed=11,
    )
    chosen = faults or {}
    eps = tuple(dataclasses.replace(e, fault=chosen.get(i)) for i, e in enumerate(base.endpoints))
    return dataclasses.replace(base, endpoints=eps)
