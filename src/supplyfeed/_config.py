"""Configuration as small frozen value objects.

``FeedConfig`` keeps the five fields and defaults of docs/contract.md §1 (``max_concurrency=50``,
``timeout_seconds=30.0``, ``batch_size=100``, ``retry_attempts=3``, ``backoff_base=1.5``)
and adds what a correct engine needs. Only the CLI reads files and the environment
(see ``_feedsfile``); everything here is plain data handed to constructors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._exceptions import ConfigError
from ._models import DocKind

__all__ = [
    "AuthSpec",
    "DropSpec",
    "FeedConfig",
    "FeedSpec",
    "FieldMapping",
    "IncrementalSpec",
    "PaginationSpec",
    "SupplierSpec",
    "UnitConversion",
]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Limits, timeouts and retry policy of a batch of fetches.

    ``retry_attempts`` is the total number of attempts per URL (the first one included).
    ``timeout_seconds`` bounds one attempt from the moment it holds a concurrency slot,
    so time spent waiting for a slot never counts against it (aiohttp#10313).
    ``backoff_base`` grows the backoff ceiling: attempt *n* sleeps a uniformly random time
    in ``[0, min(backoff_max, backoff_initial * backoff_base ** (n - 1))]`` ("full jitter"),
    drawn from a generator seeded by ``(seed, url, attempt)`` so a run is reproducible.
    """

    max_concurrency: int = 50
    timeout_seconds: float = 30.0
    batch_size: int = 100
    retry_attempts: int = 3
    backoff_base: float = 1.5
    limit_per_host: int = 10
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: bool = True
    seed: int = 0
    retry_after_cap: float = 60.0
    max_payload_bytes: int = 1024 * MiB
    # Decoded bytes per received byte past which a compressed body is a bomb (transport.py).
    max_decompression_ratio: float = 100.0
    max_redirects: int = 5  # hops followed per request (_fetch/redirects.py); 0: none
    sftp_max_channels: int = 8  # open at once per SFTP connection (_fetch/sftp.py)
    spool_threshold_bytes: int = 50 * MiB
    request_id_header: str = "X-Request-ID"
    user_agent: str = "supplyfeed/0.1"
    sla_seconds: float = 900.0
    error_rate_threshold: float = 0.02
    loop_lag_threshold: float = 0.1
    # Supplier-facing behaviour (see _fetch/conditional.py, breaker.py, ratelimit.py).
    conditional_requests: bool = True  # If-None-Match / If-Modified-Since + body-hash skip
    breaker_threshold: int = 10  # consecutive connect failures/5xx that open a host; 0: off
    breaker_cooldown: float = 30.0  # seconds an open host gets no requests before a probe
    rate_limit_per_second: float = 0.0  # per supplier token bucket; 0: unlimited
    rate_limit_burst: int = 0  # bucket size; 0: max(1, rate_limit_per_second)
    honour_rate_limit_headers: bool = True  # RateLimit-* / X-RateLimit-* pause a supplier
    adaptive_concurrency: bool = False  # AIMD per host within [1, limit_per_host] (adaptive.py)
    adaptive_latency_factor: float = 2.0  # back off when latency exceeds this x the lowest
    # Hedged requests (_fetch/hedging.py): a second copy of a GET that has not answered
    # within hedge_after seconds (0: 3x the host's p95), within hedge_budget of its requests.
    hedge: bool = True
    hedge_after: float = 0.0
    hedge_budget: float = 0.05

    def __post_init__(self) -> None:
        for name in (
            "max_concurrency",
            "batch_size",
            "retry_attempts",
            "limit_per_host",
            "sftp_max_channels",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be at least 1, got {getattr(self, name)!r}", key=name)
        for name in ("timeout_seconds", "connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"must be positive, got {getattr(self, name)!r}", key=name)
        if self.backoff_base < 1:
            raise ConfigError("must be at least 1.0", key="backoff_base")
        self._check_the_rest()

    def _check_the_rest(self) -> None:
        """The breaker, adaptive, hedging, rate-limit and payload settings (in this order:
        the first bad one is named)."""
        for name in ("breaker_threshold", "rate_limit_burst"):
            if getattr(self, name) < 0:
                raise ConfigError(f"must not be negative, got {getattr(self, name)!r}", key=name)
        if self.breaker_cooldown <= 0:
            raise ConfigError("must be positive", key="breaker_cooldown")
        if self.adaptive_latency_factor <= 1:
            raise ConfigError("must be greater than 1", key="adaptive_latency_factor")
        if self.hedge_after < 0:
            raise ConfigError("must not be negative (0: from latency)", key="hedge_after")
        if not 0 <= self.hedge_budget <= 1:
            raise ConfigError("must be a share between 0 and 1, e.g. 0.05", key="hedge_budget")
        if self.rate_limit_per_second < 0:
            raise ConfigError("must not be negative", key="rate_limit_per_second")
        if self.max_redirects < 0:
            raise ConfigError("must not be negative", key="max_redirects")
        if self.max_decompression_ratio < 1:
            raise ConfigError("must be at least 1", key="max_decompression_ratio")
        if self.spool_threshold_bytes < 1 or self.max_payload_bytes < 1:
            raise ConfigError("payload sizes must be positive", key="max_payload_bytes")

    def replace(self, **changes: Any) -> FeedConfig:
        """A copy with some fields changed (validated like the original)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """How a non-canonical JSON, CSV or XML payload maps onto canonical fields.

    ``records`` is a dotted path to the list of line records (JSON: ``data.items``; XML:
    an element path such as ``Stock/Item``; CSV: ignored, every row is a record).
    ``fields`` maps a canonical field name to a dotted source path relative to a record;
    a path starting with ``$.`` is taken from the document root instead (header fields).
    ``constants`` gives fixed values for canonical fields the source lacks.
    """

    records: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)


PageStyle = Literal["next_url", "cursor", "link", "page", "offset"]
PageStop = Literal["empty", "short", "total"]


@dataclass(frozen=True, slots=True)
class PaginationSpec:
    """How one feed pages (``_fetch/pagination.py``).

    ``next_url`` / ``cursor``: ``path`` is a dotted path in the JSON body to the next URL
    or to the cursor that ``param`` carries; no value ends the feed. ``link``: the
    ``Link: <...>; rel="next"`` header. ``page`` / ``offset``: ``param`` counts pages from
    ``start`` (or items, by ``page_size``), ``size_param`` optionally sends the page size,
    and ``stop`` ends the feed on an empty page, a short page, or once ``total_path``'s
    count is reached. ``records`` is the dotted path of a JSON page's list of documents
    (empty: the body is the list). ``max_pages`` guards against a server that never ends.
    """

    style: PageStyle
    path: str = ""
    param: str = ""
    start: int | None = None  # page: 1, offset: 0
    page_size: int = 0
    size_param: str = ""
    stop: PageStop = "empty"
    total_path: str = ""
    records: str = ""
    max_pages: int = 10_000


@dataclass(frozen=True, slots=True)
class IncrementalSpec:
    """Incremental pulls (``_run/incremental.py``): ask only for data newer than the last run.

    ``cursor_field`` is a dotted path in each JSON record (or a CSV column) whose highest
    loaded value is kept per feed; ``param`` carries it in the next run's request.
    ``initial`` is sent when nothing is stored yet; ``lookback`` (seconds, or units of a
    numeric cursor) is subtracted from the stored value so late-arriving data is caught.
    """

    cursor_field: str
    param: str
    initial: str = ""
    lookback: float = 0.0


@dataclass(frozen=True, slots=True)
class DropSpec:
    """What becomes of a file:// or sftp:// drop file once it has loaded (``_fetch/drops.py``).

    ``after``: ``move`` it into ``done_dir`` (relative to the file's folder, or absolute),
    ``delete`` it, or ``keep`` it. Files that did not load always stay where they are.
    """

    after: Literal["move", "delete", "keep"] = "move"
    done_dir: str = "done"


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed of one supplier: a kind, a format and its URLs."""

    kind: DocKind
    format: str
    urls: tuple[str, ...]
    mapping: FieldMapping | None = None
    envelope_policy: Literal["strict", "warn"] = "strict"
    pagination: PaginationSpec | None = None
    incremental: IncrementalSpec | None = None
    drop: DropSpec = field(default_factory=DropSpec)
    hedge: bool = True  # False: never hedged (_fetch/hedging.py), whatever the supplier says


AuthType = Literal["none", "bearer", "basic", "api_key", "oauth2"]


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """How to authenticate to one supplier, and how to check its TLS (``_fetch/auth.py``).

    Secret fields are left out of ``repr`` so a logged config never shows them; their
    values come only from ``${ENV}`` references in the feeds file. TLS verification is on
    unless ``tls_verify`` is False, which the run summary flags.
    """

    type: AuthType = "none"
    token: str = field(default="", repr=False)  # bearer
    username: str = ""  # basic
    password: str = field(default="", repr=False)  # basic
    key_name: str = "X-API-Key"  # api_key: header or query parameter name
    key_in: Literal["header", "query"] = "header"
    key_value: str = field(default="", repr=False)
    token_url: str = ""  # oauth2 client credentials
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    scope: str = ""
    refresh_margin: float = 60.0  # refresh this long before expiry (at most half the lifetime)
    client_cert: str = ""  # PEM file: mutual TLS
    client_key: str = ""  # PEM file; empty: the key is in client_cert
    ca_bundle: str = ""  # PEM file: trust only these CAs for this supplier
    tls_verify: bool = True  # for sftp://: False skips the host key check (flagged too)
    ssh_key: str = ""  # sftp://: private key file (the password may come from basic auth)
    known_hosts: str = ""  # sftp://: known_hosts file; empty: ~/.ssh/known_hosts

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(
            s for s in (self.token, self.password, self.key_value, self.client_secret) if s
        )


@dataclass(frozen=True, slots=True)
class SupplierSpec:
    """A supplier: its id, request headers, its effective config and its feeds.

    ``secret_headers`` (lower-case names) are the headers whose values came from ``${ENV}``
    references; ``secrets`` every value the supplier's section took from the environment.
    Neither is ever sent to another origin on a redirect (``_fetch/redirects.py``).
    """

    id: str
    feeds: tuple[FeedSpec, ...]
    headers: Mapping[str, str] = field(default_factory=dict)
    config: FeedConfig = field(default_factory=FeedConfig)
    auth: AuthSpec = field(default_factory=AuthSpec)
    secret_headers: frozenset[str] = frozenset()
    secrets: frozenset[str] = field(default=frozenset(), repr=False)


@dataclass(frozen=True, slots=True)
class UnitConversion:
    """One ``from_uom`` is ``factor`` ``to_uom`` (the base unit), from the feeds file's
    ``uom:`` table; ``supplier_id`` is ``""`` for the global table."""

    supplier_id: str
    from_uom: str
    to_uom: str
    factor: int | float
