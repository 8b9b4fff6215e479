"""What a simulated fleet serves: its endpoints, their documents and their faults.

Pure data, generated deterministically from a seed. Each endpoint's documents come from
a generator seeded by ``(seed, endpoint index)`` alone, so changing the fault rate or the
formats of a fleet never changes the records an endpoint serves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .._models import DocKind, Document, InventorySnapshot, PoAck, ShipNotice
from .faults import DEFAULT_FAULT_MIX, Fault, random_fault
from .generate import generate_documents
from .latency import LatencyModel
from .render import get_renderer

__all__ = ["TABLES", "EndpointSpec", "FleetSpec", "table_keys"]

TABLES: Final = (
    "inventory_positions",
    "po_acks",
    "po_ack_lines",
    "ship_notices",
    "ship_notice_lines",
)
DEFAULT_LATENCY: Final = LatencyModel()
_EXTENSIONS: Final = {"json": "json", "csv": "csv", "x12": "edi", "edifact": "edi"}
_KIND_PATHS: Final = {
    DocKind.INVENTORY_SNAPSHOT: "inventory",
    DocKind.PO_ACK: "po-acks",
    DocKind.SHIP_NOTICE: "asn",
}


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One URL of one supplier host: what it serves and how it misbehaves."""

    host: int
    path: str
    supplier_id: str
    kind: DocKind
    format: str
    documents: tuple[Document, ...]
    latency: LatencyModel = DEFAULT_LATENCY
    fault: Fault | None = None
    # What the endpoint serves from poll round 1, 2, ... on (round 0 serves
    # ``documents``; past the last revision the last one stays): a correction, a
    # re-paged snapshot. Empty: the same documents in every round.
    revisions: tuple[tuple[Document, ...], ...] = ()
    paged: bool = False  # read through ``Link: rel="next"`` pages, one document a page

    @property
    def rounds(self) -> int:
        """How many different bodies the endpoint serves, one per poll round."""
        return 1 + len(self.revisions)

    def documents_at(self, round_: int) -> tuple[Document, ...]:
        """The documents served in poll round ``round_`` (0: the first poll)."""
        if round_ <= 0 or not self.revisions:
            return self.documents
        return self.revisions[min(round_, len(self.revisions)) - 1]

    @property
    def render_seed(self) -> int:
        """The seed handed to the renderer (control numbers and the like): per endpoint."""
        return random.Random(f"render|{self.path}").getrandbits(31)

    def row_keys(self) -> Iterator[tuple[str, tuple[object, ...]]]:
        """``(table, natural key)`` of every row this endpoint's documents produce."""
        for doc in self.documents:
            yield from table_keys(doc)


def table_keys(doc: Document) -> Iterator[tuple[str, tuple[object, ...]]]:
    """The rows a document becomes (docs/contract.md §5), as ``(table, natural key)``.

    Keys are strings except ``line_seq`` (an int); ``as_of`` is ISO ``...THH:MM:SSZ``.
    """
    sid = doc.supplier_id
    if isinstance(doc, InventorySnapshot):
        as_of = _iso(doc.as_of)
        for item in doc.items:
            yield "inventory_positions", (sid, doc.warehouse_id, item.sku, as_of)
    elif isinstance(doc, PoAck):
        yield "po_acks", (sid, doc.po_number, doc.ack_number)
        for line in doc.lines:
            yield "po_ack_lines", (sid, doc.po_number, doc.ack_number, line.line_number)
    elif isinstance(doc, ShipNotice):
        yield "ship_notices", (sid, doc.asn_number)
        for sline in doc.lines:
            yield "ship_notice_lines", (sid, doc.asn_number, sline.line_seq)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """Every endpoint of a fleet; ``hosts`` servers (ports) share them."""

    endpoints: tuple[EndpointSpec, ...]
    hosts: int

    def __post_init__(self) -> None:
        if self.hosts < 1:
            raise ValueError("a fleet needs at least one host")
        seen: set[tuple[int, str]] = set()
        for ep in self.endpoints:
            if not 0 <= ep.host < self.hosts:
                raise ValueError(
                    f"endpoint {ep.path} is on host {ep.host}, not in 0..{self.hosts - 1}"
                )
            if ep.paged and ep.format != "json":
                raise ValueError(f"endpoint {ep.path}: only JSON is served in pages")
            if (ep.host, ep.path) in seen:
                raise ValueError(f"two endpoints at host {ep.host} path {ep.path}")
            seen.add((ep.host, ep.path))
        for fmt in {ep.format for ep in self.endpoints}:
            get_renderer(fmt)  # a missing renderer fails here, not on the first request

    @classmethod
    def generate(
        cls,
        *,
        endpoints: int = 500,
        hosts: int = 10,
        suppliers: int | Sequence[str] | None = None,
        records_per_endpoint: int = 20,
        formats: Sequence[str] = ("json", "csv"),
        kinds: Sequence[DocKind] = tuple(DocKind),
        fault_rate: float = 0.0,
        fault_mix: Mapping[str, float] | None = None,
        exact_mix: bool = False,
        latency: LatencyModel = DEFAULT_LATENCY,
        seed: int = 0,
    ) -> FleetSpec:
        """A fleet of ``endpoints`` spread round-robin over ``hosts`` ports.

        ``suppliers`` is a count or a list of ids (default: one per host, ``SUP001`` ...).
        Every (kind, format) pair gets an equal share of endpoints, in a seeded order.
        ``fault_rate`` of the endpoints (rounded) get a fault drawn from ``fault_mix``
        (weights by name: the :data:`~supplyfeed.sim.faults.DEFAULT_FAULT_MIX` names),
        each drawn at random, or with ``exact_mix`` in exact proportion to the weights
        (largest remainder), in a seeded order.
        """
        if endpoints < 0 or records_per_endpoint < 0 or not 0.0 <= fault_rate <= 1.0:
            raise ValueError("endpoints and records must be >= 0, fault_rate in [0, 1]")
        if not formats or not kinds:
            raise ValueError("at least one format and one kind are needed")
        for fmt in formats:
            get_renderer(fmt)
        supplier_ids = _supplier_ids(suppliers, hosts)
        combos = _layout(endpoints, kinds, formats, random.Random(f"{seed}|layout"))
        rng = random.Random(f"{seed}|faults")
        faults = _faults(endpoints, fault_rate, fault_mix, rng, exact=exact_mix)
        specs = []
        for i, (kind, fmt) in enumerate(combos):
            host = i % hosts
            supplier = _supplier_for(i, host, hosts, supplier_ids)
            rng = random.Random(f"{seed}|docs|{i}")
            docs = generate_documents(kind, rng, supplier, i, records_per_endpoint)
            path = f"/{supplier}/{_KIND_PATHS[kind]}/{i:05d}.{_EXTENSIONS.get(fmt, fmt)}"
            specs.append(
                EndpointSpec(host, path, supplier, kind, fmt, tuple(docs), latency, faults.get(i))
            )
        return cls(endpoints=tuple(specs), hosts=hosts)

    @classmethod
    def combine(cls, *specs: FleetSpec) -> FleetSpec:
        """One fleet of every host of ``specs``, in order: the hosts of the second spec
        come after those of the first, and so on (endpoints keep their paths)."""
        if not specs:
            raise ValueError("nothing to combine")
        endpoints: list[EndpointSpec] = []
        offset = 0
        for spec in specs:
            endpoints += [dataclasses.replace(ep, host=ep.host + offset) for ep in spec.endpoints]
            offset += spec.hosts
        return cls(endpoints=tuple(endpoints), hosts=offset)

    @property
    def suppliers(self) -> list[str]:
        return sorted({ep.supplier_id for ep in self.endpoints})


def _supplier_ids(suppliers: int | Sequence[str] | None, hosts: int) -> list[str]:
    if suppliers is None:
        suppliers = hosts
    if isinstance(suppliers, int):
        if suppliers < 1:
            raise ValueError("at least one supplier is needed")
        return [f"SUP{n:03d}" for n in range(1, suppliers + 1)]
    ids = list(suppliers)
    if not ids or len(set(ids)) != len(ids):
        raise ValueError("supplier ids must be a non-empty list of distinct ids")
    return ids


def _supplier_for(index: int, host: int, hosts: int, supplier_ids: Sequence[str]) -> str:
    """Suppliers live on hosts round-robin; with fewer suppliers than hosts one supplier
    spans several hosts, with more, several share a host (as on a shared EDI gateway)."""
    if len(supplier_ids) <= hosts:
        return supplier_ids[host % len(supplier_ids)]
    on_host = supplier_ids[host::hosts]
    return on_host[(index // hosts) % len(on_host)]


def _layout(
    endpoints: int, kinds: Sequence[DocKind], formats: Sequence[str], rng: random.Random
) -> list[tuple[DocKind, str]]:
    combos = list(itertools.product(kinds, formats))
    layout = [combos[i % len(combos)] for i in range(endpoints)]
    rng.shuffle(layout)
    return layout


def _faults(
    endpoints: int,
    rate: float,
    mix: Mapping[str, float] | None,
    rng: random.Random,
    *,
    exact: bool = False,
) -> dict[int, Fault]:
    mix = DEFAULT_FAULT_MIX if mix is None else mix
    names = [name for name, weight in mix.items() if weight > 0]
    count = round(endpoints * rate)
    if count and not names:
        raise ValueError("fault_mix has no positive weight")
    chosen = sorted(rng.sample(range(endpoints), count))
    weights = [mix[name] for name in names]
    if not exact:
        return {i: random_fault(rng.choices(names, weights)[0], rng) for i in chosen}
    kinds = _exact_kinds(names, weights, count)
    rng.shuffle(kinds)
    return {i: random_fault(kind, rng) for i, kind in zip(chosen, kinds, strict=True)}


def _exact_kinds(names: list[str], weights: list[float], count: int) -> list[str]:
    """``count`` fault kinds in proportion to ``weights`` (largest remainder)."""
    total = sum(weights)
    shares = [count * w / total for w in weights]
    counts = [int(x) for x in shares]
    by_remainder = sorted(range(len(names)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[: count - sum(counts)]:
        counts[i] += 1
    return [name for name, n in zip(names, counts, strict=True) for _ in range(n)]
