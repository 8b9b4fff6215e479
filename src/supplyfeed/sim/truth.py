"""Ground truth of a fleet: which endpoints a correct client loads, and the rows they yield.

The reliability checker numbers the source records (here: their natural keys) and
compares them with the database, like Kafka's and Jepsen's checkers: ``lost``,
``duplicated`` and ``unexpected`` must all come out empty.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .faults import Fault, Outcome
from .fleet_spec import TABLES, EndpointSpec

__all__ = ["Discrepancy", "GroundTruth", "endpoint_outcome"]

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


def build_truth(
    endpoints: Iterable[tuple[str, EndpointSpec, int]],
    *,
    attempts: int,
    timeout: float,
    max_payload_bytes: int,
) -> GroundTruth:
    """Truth over ``(url, endpoint, served body size)`` triples."""
    outcomes: dict[str, Outcome] = {}
    counts: dict[str, int] = {}
    rows: dict[str, set[RowKey]] = {t: set() for t in TABLES}
    for url, ep, size in endpoints:
        outcome = endpoint_outcome(
            ep, size, attempts=attempts, timeout=timeout, max_payload_bytes=max_payload_bytes
        )
        outcomes[url] = outcome
        keys = list(ep.row_keys())
        counts[url] = len(keys)
        if outcome == "loaded":
            for table, key in keys:
                rows[table].add(key)
    return GroundTruth(outcomes, counts, {t: frozenset(k) for t, k in rows.items()})
