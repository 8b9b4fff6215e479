"""supplyfeed: concurrent batch ingestion of supply-chain feeds."""

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

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DocKind",
    "Document",
    "FeedConfig",
    "FeedSpec",
    "FetchError",
    "FieldMapping",
    "InventoryItem",
    "InventorySnapshot",
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
    "__version__",
]
