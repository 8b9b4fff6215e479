"""From suppliers and feeds to the endpoints of a run (its ledger units)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .._config import FeedSpec, SupplierSpec
from .._fetch.outcome import FetchRequest
from .._formats.base import DecodeContext
from .._redact import redact_url
from .._sink.base import Endpoint

__all__ = ["PlannedEndpoint", "endpoint_key", "plan_endpoints", "supplier_limits"]


@dataclass(frozen=True, slots=True)
class PlannedEndpoint:
    """One endpoint of the plan: its ledger identity, its request and its feed."""

    endpoint: Endpoint
    request: FetchRequest
    feed: FeedSpec

    def decode_context(self) -> DecodeContext:
        return DecodeContext(
            kind=self.feed.kind,
            supplier_id=self.endpoint.supplier_id,
            mapping=self.feed.mapping,
            envelope_policy=self.feed.envelope_policy,
        )


def endpoint_key(supplier_id: str, kind: str, url: str) -> str:
    """Stable across runs and free of secrets: resume matches ledger rows by it."""
    return f"{supplier_id}|{kind}|{redact_url(url)}"


def plan_endpoints(suppliers: Iterable[SupplierSpec]) -> list[PlannedEndpoint]:
    """Every (supplier, feed, URL) once, in feeds-file order; duplicates are dropped."""
    planned: list[PlannedEndpoint] = []
    seen: set[str] = set()
    for supplier in suppliers:
        for feed in supplier.feeds:
            for url in feed.urls:
                key = endpoint_key(supplier.id, feed.kind.value, url)
                if key in seen:
                    continue
                seen.add(key)
                endpoint = Endpoint(key, supplier.id, feed.kind, feed.format, redact_url(url))
                request = FetchRequest(
                    url=url,
                    supplier_id=supplier.id,
                    headers=supplier.headers,
                    kind=feed.kind.value,
                    format=feed.format,
                    key=key,
                    hedge=feed.hedge,
                )
                planned.append(PlannedEndpoint(endpoint, request, feed))
    return planned


def supplier_limits(suppliers: Sequence[SupplierSpec], global_limit: int) -> dict[str, int]:
    """Per-supplier concurrency caps, for suppliers whose overrides lower max_concurrency."""
    return {
        s.id: s.config.max_concurrency for s in suppliers if s.config.max_concurrency < global_limit
    }
