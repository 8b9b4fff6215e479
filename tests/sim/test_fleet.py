"""The fleet as a whole: layout, determinism, in-flight counting, feeds file, truth."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import aiohttp
import msgspec
import pytest

from supplyfeed._models import DOCUMENT_TYPES, DocKind, Document
from supplyfeed.sim import (
    TABLES,
    EndpointSpec,
    FleetSpec,
    LatencyModel,
    RendererUnavailable,
    SupplierFleet,
    table_keys,
)
from supplyfeed.sim.render.csv import COLUMNS

FAST = LatencyModel(median=0.002, sigma=0.5, max=0.02)


def test_same_seed_same_fleet_and_bytes() -> None:
    """Two fleets from one seed have equal endpoints and render identical bytes."""
    a = FleetSpec.generate(endpoints=40, hosts=4, fault_rate=0.3, seed=7)
    b = FleetSpec.generate(endpoints=40, hosts=4, fault_rate=0.3, seed=7)
    assert a == b
    assert [SupplierFleet(a).body_of(ep) for ep in a.endpoints] == [
        SupplierFleet(b).body_of(ep) for ep in b.endpoints
    ]
    assert FleetSpec.generate(endpoints=40, hosts=4, seed=8) != a


def test_fault_rate_does_not_change_documents() -> None:
    """Documents depend on (seed, endpoint) only: adding faults keeps the records."""
    clean = FleetSpec.generate(endpoints=30, hosts=3, seed=3)
    faulty = FleetSpec.generate(endpoints=30, hosts=3, seed=3, fault_rate=0.5)
    assert [e.documents for e in clean.endpoints] == [e.documents for e in faulty.endpoints]
    assert sum(e.fault is not None for e in faulty.endpoints) == 15


def test_fault_mix_limits_the_kinds_drawn() -> None:
    """fault_mix weights choose among fault kinds; zero-weight kinds never appear."""
    spec = FleetSpec.generate(
        endpoints=50, hosts=5, fault_rate=1.0, fault_mix={"not_found": 1, "hang": 0}
    )
    assert {e.fault.kind for e in spec.endpoints if e.fault} == {"not_found"}


def test_layout_spreads_kinds_formats_hosts_and_suppliers() -> None:
    """Every (kind, format) pair and host is used evenly; one supplier per host by default."""
    spec = FleetSpec.generate(endpoints=60, hosts=3)
    pairs = {(e.kind, e.format) for e in spec.endpoints}
    assert len(pairs) == len(DocKind) * 2
    assert [sum(e.host == h for e in spec.endpoints) for h in range(3)] == [20, 20, 20]
    assert spec.suppliers == ["SUP001", "SUP002", "SUP003"]
    assert all(e.supplier_id == f"SUP{e.host + 1:03d}" for e in spec.endpoints)


def test_natural_keys_are_unique_across_the_fleet() -> None:
    """No two rows of a fleet share a natural key, so any duplicate is the client's."""
    spec = FleetSpec.generate(endpoints=120, hosts=4, records_per_endpoint=15)
    keys = [key for ep in spec.endpoints for key in ep.row_keys()]
    assert len(keys) == len(set(keys))


def test_missing_renderer_fails_at_generation() -> None:
    """An unknown format is a RendererUnavailable naming it, before any server starts."""
    with pytest.raises(RendererUnavailable, match="'nope'"):
        FleetSpec.generate(endpoints=2, hosts=1, formats=("nope",))


async def test_peak_in_flight_per_port_is_exact() -> None:
    """A client limited to 4 connections per host shows a peak of exactly 4 per port."""
    spec = FleetSpec.generate(
        endpoints=60, hosts=2, latency=LatencyModel(median=0.03, sigma=0.0, max=1.0)
    )
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=4)
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession(connector=connector) as s:
        statuses = await asyncio.gather(*(_status(s, url) for url in fleet.urls))
        assert statuses == [200] * 60
        assert [fleet.stats.peak_in_flight(p) for p in fleet.ports] == [4, 4]
        assert fleet.stats.in_flight() == 0
        assert fleet.stats.total_requests == 60


@pytest.mark.slow  # 600 real connections
async def test_serves_600_concurrent_connections() -> None:
    """600 simultaneous requests on 2 ports all get their exact bodies."""
    spec = FleetSpec.generate(
        endpoints=600,
        hosts=2,
        records_per_endpoint=3,
        latency=LatencyModel(median=0.3, sigma=0.0, max=1.0),
    )
    connector = aiohttp.TCPConnector(limit=0)
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession(connector=connector) as s:
        bodies = await asyncio.gather(*(_body(s, url) for url in fleet.urls))
        assert bodies == [fleet.body_of(ep) for ep in spec.endpoints]
        assert sum(fleet.stats.peak_in_flight(p) for p in fleet.ports) >= 500


async def test_feeds_document_lists_every_url_once_under_its_supplier() -> None:
    """feeds_document(): docs/contract.md §3 shape; each URL under its supplier, kind and format."""
    spec = FleetSpec.generate(endpoints=24, hosts=2)
    async with SupplierFleet(spec) as fleet:
        doc = fleet.feeds_document(sink="sqlite:///x.db", defaults={"limit_per_host": 4})
        by_url = {fleet.url_of(ep): ep for ep in spec.endpoints}
    assert doc["sink"] == "sqlite:///x.db"
    assert doc["defaults"] == {"limit_per_host": 4}
    listed = []
    for supplier in doc["suppliers"]:
        for feed in supplier["feeds"]:
            assert set(feed) == {"kind", "format", "urls"}
            for url in feed["urls"]:
                ep = by_url[url]
                assert (ep.supplier_id, ep.kind.value, ep.format) == (
                    supplier["id"],
                    feed["kind"],
                    feed["format"],
                )
                listed.append(url)
    assert sorted(listed) == sorted(by_url)
    json.dumps(doc)  # plain data, ready for YAML or JSON


@pytest.mark.slow  # a whole fleet fetched with retries on real time
async def test_ground_truth_matches_what_a_naive_retrying_client_gets() -> None:
    """A client retrying transient errors 3 times ends exactly as expected() says, and
    the rows it decodes from loaded endpoints are exactly the truth's rows."""
    spec = FleetSpec.generate(
        endpoints=90,
        hosts=3,
        records_per_endpoint=6,
        fault_rate=0.6,
        fault_mix={
            "fail_then_ok": 2,
            "down": 1,
            "reset": 2,
            "truncate": 2,
            "not_found": 1,
            "malformed": 1,
            "hang": 1,
        },
        latency=FAST,
        seed=11,
    )
    timeout = aiohttp.ClientTimeout(total=0.5)
    async with SupplierFleet(spec) as fleet, aiohttp.ClientSession(timeout=timeout) as s:
        truth = fleet.expected(attempts=3, timeout=0.5)
        results = await asyncio.gather(*(_naive_fetch(s, fleet, ep) for ep in spec.endpoints))
    outcomes = {url: outcome for url, outcome, _ in results}
    assert outcomes == dict(truth.outcomes)
    assert {"loaded", "failed", "quarantined"} <= set(outcomes.values())
    for table in TABLES:
        got = [key for _, _, keys in results for t, key in keys if t == table]
        assert truth.compare(table, got).ok, table
    assert sum(truth.row_counts[u] for u in truth.loaded) == sum(
        len(keys) for _, o, keys in results if o == "loaded"
    )


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def _body(session: aiohttp.ClientSession, url: str) -> bytes:
    async with session.get(url) as response:
        return await response.read()


async def _naive_fetch(
    session: aiohttp.ClientSession, fleet: SupplierFleet, ep: EndpointSpec
) -> tuple[str, str, list[tuple[str, tuple[object, ...]]]]:
    url = fleet.url_of(ep)
    for _ in range(3):
        try:
            async with session.get(url) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            continue
        if response.status == 200:
            return _decoded(url, ep, body)
        if response.status < 500 and response.status != 429:
            return url, "failed", []
    return url, "failed", []


def _decoded(
    url: str, ep: EndpointSpec, body: bytes
) -> tuple[str, str, list[tuple[str, tuple[object, ...]]]]:
    try:
        docs = _decode(ep, body)
    except (ValueError, msgspec.DecodeError, KeyError):
        return url, "quarantined", []
    return url, "loaded", [k for doc in docs for k in table_keys(doc)]


def _decode(ep: EndpointSpec, body: bytes) -> list[Document]:
    """Just enough of a decoder to read the rendered keys back (not the product's)."""
    if ep.format == "json":
        typ = DOCUMENT_TYPES[ep.kind]
        raw = msgspec.json.decode(body)
        items = raw if isinstance(raw, list) else [raw]
        return [msgspec.convert(item, typ) for item in items]
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))
    if not rows or list(rows[0]) != list(COLUMNS[ep.kind]):
        raise ValueError("not canonical CSV")
    header_fields = _CSV_HEADERS[ep.kind]
    docs: dict[tuple[str, ...], dict[str, object]] = {}
    for row in rows:
        header = tuple(row[f] for f in header_fields)
        doc = docs.setdefault(
            header, {**dict(zip(header_fields, header, strict=True)), "lines": []}
        )
        line = {f: row[f] for f in COLUMNS[ep.kind][len(header_fields) :] if row[f]}
        if line:
            doc["lines"].append(line)  # type: ignore[attr-defined]
    return [_csv_doc(ep, raw) for raw in docs.values()]


_CSV_HEADERS = {
    DocKind.INVENTORY_SNAPSHOT: ("warehouse_id", "as_of"),
    DocKind.PO_ACK: ("po_number", "ack_number"),
    DocKind.SHIP_NOTICE: ("asn_number",),
}


def _csv_doc(ep: EndpointSpec, raw: dict[str, object]) -> Document:
    """Only the key fields, converted; enough to read the natural keys back."""
    lines: list[dict[str, str]] = raw.pop("lines")  # type: ignore[assignment]
    if ep.kind is DocKind.INVENTORY_SNAPSHOT:
        raw["items"] = [{"sku": ln["sku"], "on_hand": int(ln["on_hand"])} for ln in lines]
    elif ep.kind is DocKind.PO_ACK:
        raw["lines"] = [{"line_number": ln["line_number"]} for ln in lines]
    else:
        raw["lines"] = [{"line_seq": int(ln["line_seq"])} for ln in lines]
    raw["supplier_id"] = ep.supplier_id
    return msgspec.convert(raw, DOCUMENT_TYPES[ep.kind])
