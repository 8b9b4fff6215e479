"""The supplier-facing hooks of a run, built from the suppliers' configs."""

from __future__ import annotations

from collections.abc import Sequence

from .._config import FeedConfig, SupplierSpec
from .hooks import FetchHook

__all__ = ["supplier_hooks"]


def supplier_hooks(suppliers: Sequence[SupplierSpec], config: FeedConfig) -> list[FetchHook]:
    """Circuit breakers, rate limits and auth for ``suppliers``, outermost first."""
    return []
