"""Configuration as small frozen value objects.

``FeedConfig`` keeps the five fields and defaults of docs/contract.md §1 (``max_concurrency=50``,
``timeout_seconds=30.0``, ``batch_size=100``, ``retry_attempts=3``, ``backoff_base=1.5``)
and groups what a correct engine adds into small objects, as httpx groups its settings
into ``Timeout`` and ``Limits``: :class:`Timeouts`, :class:`Retry`, :class:`Limits`,
:class:`Breaker`, :class:`RateLimit`, :class:`Adaptive`, :class:`Hedge` and
:class:`SlaPolicy`. Each group checks its own values when it is made.

The feeds file stays flat (``limit_per_host: 4``, ``hedge_after: 0.5``): :data:`KEYS` says
where each of its keys lives, and :func:`with_keys` applies them to a config. A group's
error names the feeds-file key, so a bad value reads the same from Python and from a file.
Only the CLI reads files and the environment (see ``_feedsfile``); everything here is
plain data handed to constructors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ._exceptions import ConfigError
from ._models import DocKind

__all__ = [
    "KEYS",
    "Adaptive",
    "AuthSpec",
    "Breaker",
    "DropSpec",
    "FeedConfig",
    "FeedSpec",
    "FieldMapping",
    "Hedge",
    "IncrementalSpec",
    "Limits",
    "PaginationSpec",
    "RateLimit",
    "Retry",
    "SlaPolicy",
    "SupplierSpec",
    "Timeouts",
    "UnitConversion",
    "read_key",
    "with_keys",
]

MiB = 1024 * 1024


def _at_least_one(key: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"must be at least 1, got {value!r}", key=key)


def _positive(key: str, value: float, *, show: bool = True) -> None:
    if value <= 0:
        raise ConfigError(
            f"must be positive, got {value!r}" if show else "must be positive", key=key
        )


def _not_negative(key: str, value: float, *, show: bool = True) -> None:
    if value < 0:
        got = f", got {value!r}" if show else ""
        raise ConfigError(f"must not be negative{got}", key=key)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The socket timeouts of one attempt, in seconds (aiohttp's ``sock_connect`` and
    ``sock_read``; feeds-file keys ``connect_timeout`` and ``read_timeout``).

    ``read`` bounds each wait for bytes, not the whole body; the whole attempt is bounded
    by ``FeedConfig.timeout_seconds``, which stays beside the guide's other fields.
    ``connect`` also bounds an SFTP login (TCP, key exchange, authentication).
    """

    connect: float = 10.0
    read: float = 30.0

    def __post_init__(self) -> None:
        _positive("connect_timeout", self.connect)
        _positive("read_timeout", self.read)


@dataclass(frozen=True, slots=True)
class Retry:
    """How long to wait between attempts (``_fetch/retry.py``); the number of attempts
    (``FeedConfig.retry_attempts``) and the growth (``FeedConfig.backoff_base``) are the
    guide's and stay on ``FeedConfig``.

    Attempt *n* sleeps a uniformly random time in
    ``[0, min(backoff_max, backoff_initial * backoff_base ** (n - 1))]`` ("full jitter"),
    drawn from a generator seeded by ``(seed, url, attempt)`` so a run is reproducible;
    ``jitter=False`` sleeps the ceiling itself. A longer ``Retry-After`` (or a rate-limit
    reset) is waited instead, up to ``retry_after_cap``. The field names are the
    feeds-file keys.
    """

    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: bool = True
    seed: int = 0
    retry_after_cap: float = 60.0


@dataclass(frozen=True, slots=True)
class Limits:
    """What one host, one request and one body may take.

    - ``per_host`` (key ``limit_per_host``): requests in flight to one
      ``(scheme, host, port)``, within ``FeedConfig.max_concurrency`` overall;
    - ``max_payload_bytes``: a body larger than this once decoded is ``too_large``;
    - ``max_decompression_ratio``: decoded bytes per received byte past which a compressed
      body is a bomb (``_fetch/content_encoding.py``);
    - ``max_redirects``: hops followed per request (``_fetch/redirects.py``); 0: none;
    - ``sftp_max_channels``: channels open at once per SFTP connection (``_fetch/sftp.py``);
    - ``spool_threshold_bytes``: a body past this is spooled to a file, not held in memory.
    """

    per_host: int = 10
    max_payload_bytes: int = 1024 * MiB
    max_decompression_ratio: float = 100.0
    max_redirects: int = 5
    sftp_max_channels: int = 8
    spool_threshold_bytes: int = 50 * MiB

    def __post_init__(self) -> None:
        _at_least_one("limit_per_host", self.per_host)
        _at_least_one("sftp_max_channels", self.sftp_max_channels)
        _not_negative("max_redirects", self.max_redirects, show=False)
        if self.max_decompression_ratio < 1:
            raise ConfigError("must be at least 1", key="max_decompression_ratio")
        _at_least_one("max_payload_bytes", self.max_payload_bytes)
        _at_least_one("spool_threshold_bytes", self.spool_threshold_bytes)


@dataclass(frozen=True, slots=True)
class Breaker:
    """The per-host circuit breaker (``_fetch/breaker.py``; keys ``breaker_threshold`` and
    ``breaker_cooldown``): ``threshold`` consecutive connect failures or 5xx open a host
    (0: no breaker), which then gets no request for ``cooldown`` seconds before a probe."""

    threshold: int = 10
    cooldown: float = 30.0

    def __post_init__(self) -> None:
        _not_negative("breaker_threshold", self.threshold)
        _positive("breaker_cooldown", self.cooldown, show=False)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One supplier's request rate (``_fetch/ratelimit.py``; keys ``rate_limit_per_second``,
    ``rate_limit_burst`` and ``honour_rate_limit_headers``).

    A token bucket of ``per_second`` tokens a second (0: unlimited) holding ``burst``
    (0: ``max(1, per_second)``). With ``honour_headers`` a supplier's ``RateLimit-*`` /
    ``X-RateLimit-*`` headers pause its requests until the reset, even without a bucket.
    """

    per_second: float = 0.0
    burst: int = 0
    honour_headers: bool = True

    def __post_init__(self) -> None:
        _not_negative("rate_limit_burst", self.burst)
        _not_negative("rate_limit_per_second", self.per_second, show=False)


@dataclass(frozen=True, slots=True)
class Adaptive:
    """Adaptive per-host concurrency, opt-in (``_fetch/adaptive.py``; keys
    ``adaptive_concurrency`` and ``adaptive_latency_factor``): AIMD within
    ``[1, Limits.per_host]``, backing off when latency exceeds ``latency_factor`` times the
    lowest seen."""

    enabled: bool = False
    latency_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.latency_factor <= 1:
            raise ConfigError("must be greater than 1", key="adaptive_latency_factor")


@dataclass(frozen=True, slots=True)
class Hedge:
    """Hedged requests (``_fetch/hedging.py``; keys ``hedge``, ``hedge_after`` and
    ``hedge_budget``): a second copy of a GET that has not answered within ``after``
    seconds (0: 3x the host's p95 latency), while hedges stay within ``budget`` (a share)
    of the host's requests. ``enabled=False`` never hedges."""

    enabled: bool = True
    after: float = 0.0
    budget: float = 0.05

    def __post_init__(self) -> None:
        if self.after < 0:
            raise ConfigError("must not be negative (0: from latency)", key="hedge_after")
        if not 0 <= self.budget <= 1:
            raise ConfigError("must be a share between 0 and 1, e.g. 0.05", key="hedge_budget")


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """What the run report and the exit status hold a run to (keys ``sla_seconds``,
    ``error_rate_threshold`` and ``loop_lag_threshold``).

    ``seconds``: the wall time a run should take; ``error_rate_threshold``: the share of
    endpoints that may fail before the run is flagged (and ``supplyfeed run`` exits 1);
    ``loop_lag_threshold``: event-loop lag, in seconds, past which a stall is reported.
    """

    seconds: float = 900.0
    error_rate_threshold: float = 0.02
    loop_lag_threshold: float = 0.1


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Limits, timeouts and retry policy of a batch of fetches.

    The guide's five fields come first, so ``FeedConfig(50, 30.0, 100, 3, 1.5)`` still
    reads as the guide wrote it. ``retry_attempts`` is the total number of attempts per URL
    (the first one included). ``timeout_seconds`` bounds one attempt from the moment it
    holds a concurrency slot, so time spent waiting for a slot never counts against it
    (aiohttp#10313). ``backoff_base`` grows the backoff ceiling (see :class:`Retry`).

    The rest are groups, each a frozen object with its defaults. Three request settings
    stay single fields: ``conditional_requests`` (If-None-Match / If-Modified-Since and the
    body-hash skip, ``_fetch/conditional.py``), ``request_id_header`` and ``user_agent``.
    ``replace`` changes fields of this object; :func:`with_keys` changes feeds-file keys.
    """

    max_concurrency: int = 50
    timeout_seconds: float = 30.0
    batch_size: int = 100
    retry_attempts: int = 3
    backoff_base: float = 1.5
    timeouts: Timeouts = Timeouts()
    retry: Retry = Retry()
    limits: Limits = Limits()
    breaker: Breaker = Breaker()
    rate_limit: RateLimit = RateLimit()
    adaptive: Adaptive = Adaptive()
    hedge: Hedge = Hedge()
    sla: SlaPolicy = SlaPolicy()
    conditional_requests: bool = True
    request_id_header: str = "X-Request-ID"
    user_agent: str = "supplyfeed/0.1"

    def __post_init__(self) -> None:
        for name in ("max_concurrency", "batch_size", "retry_attempts"):
            _at_least_one(name, getattr(self, name))
        _positive("timeout_seconds", self.timeout_seconds)
        if self.backoff_base < 1:
            raise ConfigError("must be at least 1.0", key="backoff_base")

    def replace(self, **changes: Any) -> FeedConfig:
        """A copy with some fields changed (validated like the original)."""
        return dataclasses.replace(self, **changes)


# The feeds file's keys (``defaults:``, ``overrides:``) in the order its messages list
# them, each with where it lives: (field of FeedConfig, field of that group; "": its own).
KEYS: Final[Mapping[str, tuple[str, str]]] = {
    "max_concurrency": ("max_concurrency", ""),
    "timeout_seconds": ("timeout_seconds", ""),
    "batch_size": ("batch_size", ""),
    "retry_attempts": ("retry_attempts", ""),
    "backoff_base": ("backoff_base", ""),
    "limit_per_host": ("limits", "per_host"),
    "connect_timeout": ("timeouts", "connect"),
    "read_timeout": ("timeouts", "read"),
    "backoff_initial": ("retry", "backoff_initial"),
    "backoff_max": ("retry", "backoff_max"),
    "jitter": ("retry", "jitter"),
    "seed": ("retry", "seed"),
    "retry_after_cap": ("retry", "retry_after_cap"),
    "max_payload_bytes": ("limits", "max_payload_bytes"),
    "max_decompression_ratio": ("limits", "max_decompression_ratio"),
    "max_redirects": ("limits", "max_redirects"),
    "sftp_max_channels": ("limits", "sftp_max_channels"),
    "spool_threshold_bytes": ("limits", "spool_threshold_bytes"),
    "request_id_header": ("request_id_header", ""),
    "user_agent": ("user_agent", ""),
    "sla_seconds": ("sla", "seconds"),
    "error_rate_threshold": ("sla", "error_rate_threshold"),
    "loop_lag_threshold": ("sla", "loop_lag_threshold"),
    "conditional_requests": ("conditional_requests", ""),
    "breaker_threshold": ("breaker", "threshold"),
    "breaker_cooldown": ("breaker", "cooldown"),
    "rate_limit_per_second": ("rate_limit", "per_second"),
    "rate_limit_burst": ("rate_limit", "burst"),
    "honour_rate_limit_headers": ("rate_limit", "honour_headers"),
    "adaptive_concurrency": ("adaptive", "enabled"),
    "adaptive_latency_factor": ("adaptive", "latency_factor"),
    "hedge": ("hedge", "enabled"),
    "hedge_after": ("hedge", "after"),
    "hedge_budget": ("hedge", "budget"),
}


def read_key(config: FeedConfig, key: str) -> Any:
    """The value of feeds-file ``key`` in ``config`` (``read_key(c, "limit_per_host")``)."""
    name, inner = KEYS[key]
    value = getattr(config, name)
    return getattr(value, inner) if inner else value


def with_keys(config: FeedConfig, values: Mapping[str, Any]) -> FeedConfig:
    """A copy of ``config`` with feeds-file keys changed, each in its group; a bad value
    raises the group's :class:`ConfigError`, which names the key."""
    own: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        name, inner = KEYS[key]
        if inner:
            groups.setdefault(name, {})[inner] = value
        else:
            own[name] = value
    for name, changes in groups.items():
        own[name] = dataclasses.replace(getattr(config, name), **changes)
    return dataclasses.replace(config, **own)


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
