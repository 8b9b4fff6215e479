"""Small fleets for the sim tests: one endpoint with one fault, no latency."""

from __future__ import annotations

import dataclasses

from supplyfeed._models import DocKind
from supplyfeed.sim import EndpointSpec, Fault, FleetSpec, LatencyModel

NO_LATENCY = LatencyModel.none()


def one_endpoint(
    fault: Fault | None,
    *,
    fmt: str = "json",
    kind: DocKind = DocKind.INVENTORY_SNAPSHOT,
    records: int = 5,
    latency: LatencyModel = NO_LATENCY,
) -> FleetSpec:
    """A one-host fleet of a single endpoint with ``fault``."""
    spec = FleetSpec.generate(
        endpoints=1,
        hosts=1,
        records_per_endpoint=records,
        formats=(fmt,),
        kinds=(kind,),
        latency=latency,
    )
    ep: EndpointSpec = dataclasses.replace(spec.endpoints[0], fault=fault)
    return FleetSpec(endpoints=(ep,), hosts=1)
