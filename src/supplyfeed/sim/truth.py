"""Ground truth of a fleet: which endpoints a correct client loads, and the rows they yield.

The reliability checker numbers the source records (here: their natural keys) and
compares them with the database, like Kafka's and Jepsen's checkers: ``lost``,
``duplicated`` and ``unexpected`` must all come out empty.

Which rows and values the tables end with is docs/contract.md §6, written here again from the spec
(:func:`expected_state`), not taken from the sinks' planner: a pure function of the
deliveries, whatever order they arrived in. Only the conflict tie-breaks are shared with
the sinks, since they are definitions, not decisions: the line hash
(:func:`~supplyfeed._sink.schema.item_line_hash`) and the content hash
(:func:`~supplyfeed._sink.schema.content_hash`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .._models import DocKind, Document, InventoryItem, InventorySnapshot, PoAck, ShipNotice
from .._sink.schema import content_hash, item_line_hash
from .faults import Fault, Outcome
from .fleet_spec import TABLES, EndpointSpec, table_keys

__all__ = [
    "Delivery",
    "Discrepancy",
    "Expected",
    "GroundTruth",
    "endpoint_outcome",
    "expected_state",
    "version_rank",
]

RowKey = tuple[object, ...]

# A fault that never fires: a healthy endpoint obeys the same timing rules.
_HEALTHY: Final = Fault.fail_then_ok(503, times=0)


def endpoint_outcome(
    ep: EndpointSpec,
    body_bytes: int,
    *,
    attempts: int,
    timeout: float,
    max_payload_bytes: int,
) -> Outcome:
    """The outcome a correct client reaches on ``ep`` (see :meth:`Fault.outcome`)."""
    if body_bytes > max_payload_bytes:
        return "failed"
    return (ep.fault or _HEALTHY).outcome(
        attempts,
        timeout,
        body_bytes=body_bytes,
        latency_max=ep.latency.worst_case,
        max_payload_bytes=max_payload_bytes,
    )


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """How a table differs from the truth; all three empty means nothing went wrong."""

    lost: frozenset[RowKey]
    duplicated: frozenset[RowKey]
    unexpected: frozenset[RowKey]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected)


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Per URL its outcome and row count; per table the natural keys loaded URLs yield."""

    outcomes: Mapping[str, Outcome]
    row_counts: Mapping[str, int]
    table_rows: Mapping[str, frozenset[RowKey]] = field(default_factory=dict)
    state: Expected | None = None  # the values and conflicts (docs/contract.md §6), when computed

    @property
    def conflicts(self) -> Mapping[DocKind, int]:
        """Per document kind, how many copies lose a conflict (see :class:`Expected`)."""
        return self.state.conflicts if self.state is not None else {}

    @property
    def loaded(self) -> list[str]:
        return self.urls("loaded")

    @property
    def failed(self) -> list[str]:
        return self.urls("failed")

    @property
    def quarantined(self) -> list[str]:
        return self.urls("quarantined")

    def urls(self, outcome: Outcome) -> list[str]:
        return [url for url, o in self.outcomes.items() if o == outcome]

    def rows(self, table: str) -> set[RowKey]:
        """Natural keys of every row of ``table`` the loaded endpoints must produce."""
        if table not in TABLES:
            raise KeyError(f"unknown table {table!r} (known: {', '.join(TABLES)})")
        return set(self.table_rows.get(table, frozenset()))

    def compare(self, table: str, actual: Iterable[RowKey]) -> Discrepancy:
        """``actual``: the natural keys read back from the database, one per row."""
        counts = Counter(tuple(row) for row in actual)
        expected = self.rows(table)
        return Discrepancy(
            lost=frozenset(expected - counts.keys()),
            duplicated=frozenset(k for k, n in counts.items() if n > 1),
            unexpected=frozenset(counts.keys() - expected),
        )


# -- docs/contract.md §6: what the tables hold after a set of deliveries -------------------
_LOWEST: Final = dt.datetime.min.replace(tzinfo=dt.UTC)
Rank = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One complete fetch of one source (an HTTP URL without its paging, or one drop
    file): the documents of all its pages, as a client decodes them. ``fetched`` orders
    the fetches of one source (higher: later); between sources it means nothing."""

    source: str
    fetched: int
    documents: tuple[Document, ...]


@dataclass(frozen=True, slots=True)
class Expected:
    """The tables after some deliveries (docs/contract.md §6), and the conflicts on the way.

    ``inventory``: the winning item per ``(supplier, warehouse, sku, as_of)``;
    ``documents``: the winning acknowledgment or ship notice per header row (``(table,
    natural key)``, as :func:`table_keys` gives it); ``conflicts``: per kind, the copies
    that lose a conflict (a line or a whole document at the winner's version with other
    content: one per loser, however many share its values); ``conflicted``: per kind,
    the line keys (inventory) or documents that are in conflict.
    """

    inventory: Mapping[RowKey, InventoryItem]
    documents: Mapping[tuple[str, RowKey], PoAck | ShipNotice]
    conflicts: Mapping[DocKind, int]
    conflicted: Mapping[DocKind, int]

    def table_rows(self) -> dict[str, frozenset[RowKey]]:
        rows: dict[str, set[RowKey]] = {t: set() for t in TABLES}
        rows["inventory_positions"].update(self.inventory)
        for doc in self.documents.values():
            for table, key in table_keys(doc):
                rows[table].add(key)
        return {t: frozenset(k) for t, k in rows.items()}


def version_rank(doc: Document) -> Rank:
    """docs/contract.md §6's order of versions: the document's own date, then its control number
    (all
    digits compare as numbers, ``10`` after ``9``); what a document lacks sorts first."""
    issued = doc.issued_at
    if issued is None:
        when = _LOWEST
    else:
        when = issued.replace(tzinfo=dt.UTC) if issued.tzinfo is None else issued
    control = doc.control_number
    if control is None:
        number: tuple[int, int, str] = (0, 0, "")
    elif control.isdigit():
        number = (1, int(control), "")
    else:
        number = (2, 0, control)
    return (when.astimezone(dt.UTC), number)


def expected_state(deliveries: Iterable[Delivery]) -> Expected:
    """docs/contract.md §6 over ``deliveries``, in any order (the result does not depend on it):

    - inventory: a snapshot (supplier, warehouse, as_of) is the union of its sources'
      parts; a source's part is its latest delivery reporting that snapshot (the highest
      version, at an equal version the later fetch); a SKU several parts report takes the
      copy of the highest version, at an equal version the greatest line hash (a conflict
      when the values differ);
    - acknowledgments and ship notices: whole documents by global natural key; each
      source offers its latest copies (as above; several in one delivery all count), the
      highest version wins, an equal version with other content is a conflict won by the
      greatest content hash.
    """
    batch = list(deliveries)
    _check_fetches(batch)
    conflicts: Counter[DocKind] = Counter()
    conflicted: Counter[DocKind] = Counter()
    inventory = _inventory_state(batch, conflicts, conflicted)
    documents = _document_state(batch, conflicts, conflicted)
    return Expected(inventory, documents, dict(conflicts), dict(conflicted))


def _check_fetches(batch: list[Delivery]) -> None:
    seen: set[tuple[str, int]] = set()
    for d in batch:
        if (d.source, d.fetched) in seen:
            raise ValueError(f"two deliveries of {d.source} as fetch {d.fetched}: which is later?")
        seen.add((d.source, d.fetched))


_Part = tuple[tuple[Rank, int], list[tuple[Rank, InventoryItem]]]  # (order, ranked items)


def _inventory_state(
    batch: list[Delivery], conflicts: Counter[DocKind], conflicted: Counter[DocKind]
) -> dict[RowKey, InventoryItem]:
    parts: dict[tuple[str, RowKey], _Part] = {}
    for d in batch:
        for snap, (rank, items) in _parts_of(d).items():
            held = parts.get((d.source, snap))
            if held is None or (rank, d.fetched) > held[0]:
                parts[(d.source, snap)] = ((rank, d.fetched), items)
    copies: dict[RowKey, list[tuple[Rank, InventoryItem]]] = {}
    for (_, (sid, warehouse, as_of)), (_, items) in parts.items():
        for rank, item in items:
            copies.setdefault((sid, warehouse, item.sku, as_of), []).append((rank, item))
    kind = DocKind.INVENTORY_SNAPSHOT
    return {
        key: _winner(line, lambda c: item_line_hash(c[1]), kind, conflicts, conflicted)[1]
        for key, line in copies.items()
    }


def _parts_of(d: Delivery) -> dict[RowKey, tuple[Rank, list[tuple[Rank, InventoryItem]]]]:
    """One delivery's part of each snapshot it reports (its pages and parts add up)."""
    out: dict[RowKey, tuple[Rank, list[tuple[Rank, InventoryItem]]]] = {}
    for doc in d.documents:
        if not isinstance(doc, InventorySnapshot):
            continue
        snap = (doc.supplier_id, doc.warehouse_id, _iso(doc.as_of))
        rank = version_rank(doc)
        held_rank, items = out.get(snap, (rank, []))
        items.extend((rank, item) for item in doc.items)
        out[snap] = (max(held_rank, rank), items)
    return out


def _document_state(
    batch: list[Delivery], conflicts: Counter[DocKind], conflicted: Counter[DocKind]
) -> dict[tuple[str, RowKey], PoAck | ShipNotice]:
    offers: dict[tuple[str, RowKey], dict[str, tuple[tuple[Rank, int], list[Any]]]] = {}
    for d in batch:
        for doc in d.documents:
            if not isinstance(doc, PoAck | ShipNotice):
                continue
            by_source = offers.setdefault(next(table_keys(doc)), {})
            order = (version_rank(doc), d.fetched)
            held = by_source.get(d.source)
            if held is None or order > held[0]:
                by_source[d.source] = (order, [doc])
            elif order == held[0]:  # one delivery, two documents of one key
                held[1].append(doc)
    out: dict[tuple[str, RowKey], PoAck | ShipNotice] = {}
    for key, by_source in offers.items():
        docs = [(order[0], doc) for order, held in by_source.values() for doc in held]
        kind = DocKind.PO_ACK if isinstance(docs[0][1], PoAck) else DocKind.SHIP_NOTICE
        out[key] = _winner(docs, lambda c: content_hash(c[1]), kind, conflicts, conflicted)[1]
    return out


def _winner(
    copies: list[tuple[Rank, Any]],
    hash_of: Callable[[tuple[Rank, Any]], str],
    kind: DocKind,
    conflicts: Counter[DocKind],
    conflicted: Counter[DocKind],
) -> tuple[Rank, Any]:
    """The copy of the highest version, then the greatest hash; the others at that
    version with another hash lose a conflict. Hashes only where copies meet."""
    if len(copies) == 1:
        return copies[0]
    top_rank = max(rank for rank, _ in copies)
    tied = [(hash_of(c), c) for c in copies if c[0] == top_rank]
    best_hash, best = max(tied, key=lambda t: t[0])
    losers = sum(1 for h, _ in tied if h != best_hash)
    if losers:
        conflicts[kind] += losers
        conflicted[kind] += 1
    return best


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


View = Callable[[EndpointSpec, int], tuple[Document, ...]]


def served_documents(ep: EndpointSpec, round_: int) -> tuple[Document, ...]:
    """The default view of an endpoint: the documents it serves in ``round_``."""
    return ep.documents_at(round_)


def build_truth(
    endpoints: Iterable[tuple[str, EndpointSpec, int]],
    *,
    attempts: int,
    timeout: float,
    max_payload_bytes: int,
    polled: Iterable[int] = (0,),
    view: View = served_documents,
) -> GroundTruth:
    """Truth over ``(url, endpoint, served body size)`` triples, each URL one source.

    ``polled``: the poll rounds a client fetched every loaded endpoint in (a correction
    is served in a later round); ``view(endpoint, round)``: the documents a client reads
    from it then. Rows and values follow docs/contract.md §6 (:func:`expected_state`)."""
    rounds = sorted(set(polled))
    outcomes: dict[str, Outcome] = {}
    counts: dict[str, int] = {}
    deliveries: list[Delivery] = []
    for url, ep, size in endpoints:
        outcome = endpoint_outcome(
            ep, size, attempts=attempts, timeout=timeout, max_payload_bytes=max_payload_bytes
        )
        outcomes[url] = outcome
        counts[url] = sum(1 for _ in ep.row_keys())
        if outcome == "loaded":
            deliveries += [Delivery(url, r, view(ep, r)) for r in rounds]
    state = expected_state(deliveries)
    return GroundTruth(outcomes, counts, state.table_rows(), state)
