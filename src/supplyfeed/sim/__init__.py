"""supplyfeed.sim: an in-process fleet of simulated supplier endpoints on 127.0.0.1.

Used by ``supplyfeed demo``, the tests and the benchmarks. A :class:`FleetSpec` says what
each endpoint serves (documents generated from a seed) and how it misbehaves (a
:class:`Fault`); a :class:`SupplierFleet` serves it, one aiohttp server per supplier host,
counts what clients do, and tells what a correct client must end with
(:meth:`SupplierFleet.expected`). A host may behave like a supplier's API gateway
(:class:`HostBehaviour`: OAuth2 token endpoint, rate-limit headers, degradation under
load); JSON endpoints are also served paged in every style (``paged.py``); an
:class:`SftpDrop` serves a fleet's documents as files over SFTP. Nothing here touches
any network but the loopback.

Suppliers that test document identity (docs/contract.md §6: snapshots split over URLs, files and
pages, corrections, two ASNs of one number) come from ``identity.py``
(:func:`identity_fleet`); their endpoints change between poll rounds
(:meth:`SupplierFleet.advance`), and the ground truth applies §6 to what was served
(:func:`expected_state`).
"""

from __future__ import annotations

from .faults import DEFAULT_FAULT_MIX, FAULT_KINDS, AmbiguousOutcome, Fault, FaultKind, Outcome
from .fleet_spec import TABLES, EndpointSpec, FleetSpec, table_keys
from .hosts import Degradation, HostBehaviour, HostCounters, RateLimit, TokenEndpoint
from .identity import (
    corrected_snapshot,
    duplicate_asns,
    identity_fleet,
    paged_snapshot,
    split_snapshot,
)
from .latency import LatencyModel
from .render import RendererUnavailable, get_renderer
from .server import EndpointStats, FleetStats, PortStats, SupplierFleet
from .sftp import SftpDrop
from .truth import Delivery, Discrepancy, Expected, GroundTruth, expected_state

__all__ = [
    "DEFAULT_FAULT_MIX",
    "FAULT_KINDS",
    "TABLES",
    "AmbiguousOutcome",
    "Degradation",
    "Delivery",
    "Discrepancy",
    "EndpointSpec",
    "EndpointStats",
    "Expected",
    "Fault",
    "FaultKind",
    "FleetSpec",
    "FleetStats",
    "GroundTruth",
    "HostBehaviour",
    "HostCounters",
    "LatencyModel",
    "Outcome",
    "PortStats",
    "RateLimit",
    "RendererUnavailable",
    "SftpDrop",
    "SupplierFleet",
    "TokenEndpoint",
    "corrected_snapshot",
    "duplicate_asns",
    "expected_state",
    "get_renderer",
    "identity_fleet",
    "paged_snapshot",
    "split_snapshot",
    "table_keys",
]
