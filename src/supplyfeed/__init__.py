"""supplyfeed: concurrent batch ingestion of supply-chain feeds."""

# Names load on first use (PEP 562): ``supplyfeed --help`` and a SQLite worker process
# start without importing aiohttp, asyncssh or the formats they never use.
from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

if TYPE_CHECKING:
    from ._api import arun_feeds, run_feeds
    from ._config import (
        Adaptive,
        Breaker,
        FeedConfig,
        FeedSpec,
        FieldMapping,
        Hedge,
        Limits,
        RateLimit,
        Retry,
        SlaPolicy,
        SupplierSpec,
        Timeouts,
    )
    from ._exceptions import (
        ConfigError,
        FetchError,
        PayloadError,
        PermanentFetchError,
        RunLockedError,
        SinkError,
        SupplyfeedError,
        TransientFetchError,
    )
    from ._fetch.documents import FeedDocuments
    from ._fetch.engine import AsyncBatchIngestor, BatchResult
    from ._fetch.outcome import AttemptRecord, FetchFailure, FetchRequest, FetchSuccess
    from ._fetch.transport import (
        AiohttpTransport,
        MockTransport,
        Transport,
        TransportRequest,
        TransportResponse,
    )
    from ._models import (
        DocKind,
        Document,
        InventoryItem,
        InventorySnapshot,
        PoAck,
        PoAckLine,
        ShipNotice,
        ShipNoticeLine,
    )
    from ._run.summary import RunSummary

_LAZY = {
    "arun_feeds": "._api",
    "run_feeds": "._api",
    "FeedConfig": "._config",
    "FeedSpec": "._config",
    "FieldMapping": "._config",
    "SupplierSpec": "._config",
    "Adaptive": "._config",
    "Breaker": "._config",
    "Hedge": "._config",
    "Limits": "._config",
    "RateLimit": "._config",
    "Retry": "._config",
    "SlaPolicy": "._config",
    "Timeouts": "._config",
    "ConfigError": "._exceptions",
    "FetchError": "._exceptions",
    "PayloadError": "._exceptions",
    "PermanentFetchError": "._exceptions",
    "RunLockedError": "._exceptions",
    "SinkError": "._exceptions",
    "SupplyfeedError": "._exceptions",
    "TransientFetchError": "._exceptions",
    "FeedDocuments": "._fetch.documents",
    "AsyncBatchIngestor": "._fetch.engine",
    "BatchResult": "._fetch.engine",
    "AttemptRecord": "._fetch.outcome",
    "FetchFailure": "._fetch.outcome",
    "FetchRequest": "._fetch.outcome",
    "FetchSuccess": "._fetch.outcome",
    "AiohttpTransport": "._fetch.transport",
    "MockTransport": "._fetch.transport",
    "Transport": "._fetch.transport",
    "TransportRequest": "._fetch.transport",
    "TransportResponse": "._fetch.transport",
    "DocKind": "._models",
    "Document": "._models",
    "InventoryItem": "._models",
    "InventorySnapshot": "._models",
    "PoAck": "._models",
    "PoAckLine": "._models",
    "ShipNotice": "._models",
    "ShipNoticeLine": "._models",
    "RunSummary": "._run.summary",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "Adaptive",
    "AiohttpTransport",
    "AsyncBatchIngestor",
    "AttemptRecord",
    "BatchResult",
    "Breaker",
    "ConfigError",
    "DocKind",
    "Document",
    "FeedConfig",
    "FeedDocuments",
    "FeedSpec",
    "FetchError",
    "FetchFailure",
    "FetchRequest",
    "FetchSuccess",
    "FieldMapping",
    "Hedge",
    "InventoryItem",
    "InventorySnapshot",
    "Limits",
    "MockTransport",
    "PayloadError",
    "PermanentFetchError",
    "PoAck",
    "PoAckLine",
    "RateLimit",
    "Retry",
    "RunLockedError",
    "RunSummary",
    "ShipNotice",
    "ShipNoticeLine",
    "SinkError",
    "SlaPolicy",
    "SupplierSpec",
    "SupplyfeedError",
    "Timeouts",
    "TransientFetchError",
    "Transport",
    "TransportRequest",
    "TransportResponse",
    "__version__",
    "arun_feeds",
    "run_feeds",
]
