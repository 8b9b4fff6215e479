"""The end-of-run summary, computed from the ledger (so a resumed run reports the whole)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._sink.base import EndpointRecord, Outcome
from .._sink.semantics import Bucket, is_known_quarantine

__all__ = ["RunSummary", "summarize"]


@dataclass(slots=True)
class RunSummary:
    """What one run did, from its ledger (a resumed run counts the whole run). Returned by
    :func:`supplyfeed.run_feeds`; :meth:`to_dict` is what ``supplyfeed report --json``
    prints for the run (plus the report's run status, times and conflict details).

    ``endpoints`` are counted by ``outcomes`` (``loaded``, ``unchanged``, ``failed``,
    ``quarantined``, ``pending``) and the bad ones by ``failures_by_reason`` (``timeout``,
    ``http_404``, ``quarantined:payload`` ...). ``records`` were decoded; ``buckets`` says
    where they went (``loaded``, ``unchanged``, ``stale``, ``superseded``, ``conflict``:
    they add up to ``records``). ``ok``: every endpoint loaded or unchanged, and the run
    was not interrupted; ``flagged``: the error rate is above its threshold.
    """

    run_id: str
    endpoints: int
    outcomes: dict[str, int]
    failures_by_reason: dict[str, int]
    records: int  # decoded; where they went (docs/contract.md §6) is in ``buckets``
    documents: int
    stale_documents: int
    bytes: int
    wall_seconds: float
    error_rate: float
    error_rate_threshold: float
    interrupted: bool = False
    # Quarantines whose bytes an open dead letter already held: not new breakage.
    quarantined_known: int = 0
    # loaded / unchanged / stale / superseded / conflict: they add up to ``records``.
    buckets: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0  # sf_conflicts rows this run stored
    findings: int = 0  # sf_findings rows this run added (rule checks, issue 15)
    # Whether the rules hold checked for the whole database as the run left it: checked at
    # its end, or nothing written since a run that was (findings_store.py).
    findings_checked: bool = False
    per_supplier: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)  # _telemetry.build_report's
    # Settings a reader must not miss, e.g. a supplier whose TLS certificates go unchecked.
    warnings: list[str] = field(default_factory=list)
    # A scaled-out run (_scale/): the executor, its shards and their attempts.
    executor: dict[str, Any] = field(default_factory=dict)

    @property
    def records_loaded(self) -> int:
        """Records written to the tables (``report --json``'s ``records_loaded``)."""
        return self.buckets.get("loaded", 0)

    @property
    def flagged(self) -> bool:
        return self.error_rate > self.error_rate_threshold

    @property
    def ok(self) -> bool:
        done = self.outcomes.get(Outcome.LOADED.value, 0) + self.outcomes.get(
            Outcome.UNCHANGED.value, 0
        )
        return done == self.endpoints and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "endpoints": self.endpoints,
            "outcomes": self.outcomes,
            "failures_by_reason": self.failures_by_reason,
            "quarantined_known": self.quarantined_known,
            "records": self.records,
            "records_loaded": self.records_loaded,
            "records_by_bucket": self.buckets,
            "conflicts": self.conflicts,
            "findings": self.findings,
            "findings_checked": self.findings_checked,
            "documents": self.documents,
            "stale_documents": self.stale_documents,
            "bytes": self.bytes,
            "wall_seconds": round(self.wall_seconds, 3),
            "error_rate": round(self.error_rate, 4),
            "error_rate_threshold": self.error_rate_threshold,
            "flagged": self.flagged,
            "interrupted": self.interrupted,
            "ok": self.ok,
            "per_supplier": self.per_supplier,
            **({"report": self.report} if self.report else {}),
            **({"warnings": self.warnings} if self.warnings else {}),
            **({"executor": self.executor} if self.executor else {}),
        }


def _reason(r: EndpointRecord) -> str:
    if r.outcome is Outcome.QUARANTINED:
        return f"quarantined:{r.error_kind or 'payload'}"
    return r.error_kind or "unknown"


def _per_supplier(records: Sequence[EndpointRecord]) -> dict[str, dict[str, Any]]:
    """Endpoints, ok, failed and records loaded, by supplier."""
    per_supplier: dict[str, dict[str, Any]] = {}
    for r in records:
        s = per_supplier.setdefault(
            r.endpoint.supplier_id, {"endpoints": 0, "ok": 0, "failed": 0, "records": 0}
        )
        s["endpoints"] += 1
        s["records"] += r.records_loaded
        if r.outcome in (Outcome.LOADED, Outcome.UNCHANGED):
            s["ok"] += 1
        elif r.outcome in (Outcome.FAILED, Outcome.QUARANTINED):
            s["failed"] += 1
    return per_supplier


def summarize(
    run_id: str,
    records: Sequence[EndpointRecord],
    *,
    wall_seconds: float,
    error_rate_threshold: float,
    interrupted: bool = False,
) -> RunSummary:
    outcomes = Counter(r.outcome.value for r in records)
    bad = [r for r in records if r.outcome in (Outcome.FAILED, Outcome.QUARANTINED)]
    per_supplier = _per_supplier(records)
    return RunSummary(
        run_id=run_id,
        endpoints=len(records),
        outcomes=dict(sorted(outcomes.items())),
        failures_by_reason=dict(Counter(_reason(r) for r in bad).most_common()),
        records=sum(r.records for r in records),
        buckets={b.value: sum(getattr(r, f"records_{b.value}") for r in records) for b in Bucket},
        documents=sum(r.documents for r in records),
        stale_documents=sum(r.stale_documents for r in records),
        bytes=sum(r.bytes for r in records),
        wall_seconds=wall_seconds,
        error_rate=len(bad) / len(records) if records else 0.0,
        error_rate_threshold=error_rate_threshold,
        interrupted=interrupted,
        quarantined_known=sum(is_known_quarantine(r) for r in records),
        per_supplier=dict(sorted(per_supplier.items())),
    )
