"""The curated public API: what users import from ``supplyfeed``."""

from __future__ import annotations

import supplyfeed


def test_all_is_pinned() -> None:
    """Adding or removing a public name is a deliberate, reviewed change."""
    assert sorted(supplyfeed.__all__) == [
        "AiohttpTransport",
        "AsyncBatchIngestor",
        "AttemptRecord",
        "BatchResult",
        "ConfigError",
        "DocKind",
        "Document",
        "FeedConfig",
        "FeedSpec",
        "FetchError",
        "FetchFailure",
        "FetchRequest",
        "FetchSuccess",
        "FieldMapping",
        "InventoryItem",
        "InventorySnapshot",
        "MockTransport",
        "PayloadError",
        "PermanentFetchError",
        "PoAck",
        "PoAckLine",
        "RunLockedError",
        "ShipNotice",
        "ShipNoticeLine",
        "SinkError",
        "SupplierSpec",
        "SupplyfeedError",
        "TransientFetchError",
        "Transport",
        "TransportRequest",
        "TransportResponse",
        "__version__",
    ]
    for name in supplyfeed.__all__:
        assert hasattr(supplyfeed, name), name


def test_feed_config_keeps_the_guides_fields_and_defaults() -> None:
    """SPEC §1: the guide's five names and defaults, plus limit_per_host=10."""
    cfg = supplyfeed.FeedConfig()
    assert (
        cfg.max_concurrency,
        cfg.timeout_seconds,
        cfg.batch_size,
        cfg.retry_attempts,
        cfg.backoff_base,
        cfg.limit_per_host,
    ) == (50, 30.0, 100, 3, 1.5, 10)
