"""supplyfeed: concurrent batch ingestion of supply-chain feeds."""

from ._api import arun_feeds, run_feeds
from ._config import FeedConfig, FeedSpec, FieldMapping, SupplierSpec
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

__version__ = "0.1.0"

__all__ = [
    "AiohttpTransport",
    "AsyncBatchIngestor",
    "AttemptRecord",
    "BatchResult",
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
    "InventoryItem",
    "InventorySnapshot",
    "MockTransport",
    "PayloadError",
    "PermanentFetchError",
    "PoAck",
    "PoAckLine",
    "RunLockedError",
    "RunSummary",
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
    "arun_feeds",
    "run_feeds",
]
