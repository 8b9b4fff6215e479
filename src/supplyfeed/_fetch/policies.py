"""The supplier-facing hooks of a run, built from the run's and the suppliers' configs.

Order matters: the first hook is outermost. The breaker comes first so that a request to
an open host fails before it waits for a rate-limit token, and so that it sees one
outcome per attempt (after auth has refreshed a token once on a 401).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .._config import FeedConfig, SupplierSpec
from .adaptive import AdaptiveConcurrency
from .auth import AuthHook
from .breaker import CircuitBreaker
from .hedging import Hedging
from .hooks import BaseHook, FetchHook, Send
from .outcome import FetchRequest
from .ratelimit import RateLimiter
from .transport import TransportRequest, TransportResponse

__all__ = ["SupplierRequests", "supplier_hedging", "supplier_hooks"]


class SupplierRequests(BaseHook):
    """Each request carries its supplier's payload and redirect limits, and the names and
    values of its secrets, which the redirect policy never sends to another origin."""

    def __init__(self, suppliers: Sequence[SupplierSpec]) -> None:
        self._by_id = {s.id: s for s in suppliers}

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        supplier = self._by_id.get(request.supplier_id)
        if supplier is not None:
            cfg = supplier.config
            treq = dataclasses.replace(
                treq,
                max_bytes=cfg.limits.max_payload_bytes,
                max_redirects=cfg.limits.max_redirects,
                max_decompression_ratio=cfg.limits.max_decompression_ratio,
                secret_headers=treq.secret_headers | supplier.secret_headers,
                secrets=treq.secrets | supplier.secrets,
            )
        return await call_next(treq)


def supplier_hooks(suppliers: Sequence[SupplierSpec], config: FeedConfig) -> list[FetchHook]:
    """Circuit breakers, rate limits and auth for ``suppliers``, outermost first."""
    hooks: list[FetchHook] = [SupplierRequests(suppliers)] if suppliers else []
    if config.breaker.threshold > 0:
        hooks.append(CircuitBreaker(config.breaker.threshold, config.breaker.cooldown))
    buckets = {
        s.id: s.config.rate_limit
        for s in suppliers
        if s.config.rate_limit.per_second > 0 or s.config.rate_limit.honour_headers
    }
    if buckets:
        hooks.append(RateLimiter(buckets, pause_cap=config.retry.retry_after_cap))
    auth = AuthHook({s.id: s.auth for s in suppliers})
    if auth:
        hooks.append(auth)
    adaptive = {
        s.id: (s.config.limits.per_host, s.config.adaptive.latency_factor)
        for s in suppliers
        if s.config.adaptive.enabled
    }
    if adaptive:  # last: its admit counts a request in flight, nothing after it may refuse
        hooks.append(AdaptiveConcurrency(adaptive))
    return hooks


def supplier_hedging(suppliers: Sequence[SupplierSpec], config: FeedConfig) -> Hedging:
    """Hedged requests under each supplier's ``hedge``, ``hedge_after`` and ``hedge_budget``."""
    return Hedging(config.hedge, {s.id: s.config.hedge for s in suppliers})
