"""The one exceptions module of supplyfeed.

The tree is split by what the caller does next::

    SupplyfeedError
    ├── FetchError                 a request for one URL failed
    │   ├── TransientFetchError    retry it (timeouts, resets, 5xx, 408/425/429, truncation)
    │   │   └── CircuitOpenError   the host's circuit is open: not sent, not retried this run
    │   └── PermanentFetchError    do not retry (other 4xx, TLS, bad URL, too large)
    ├── PayloadError               the bytes arrived but cannot be decoded: quarantine them
    ├── SinkError                  the database failed: stop, keep the checkpoint
    │   └── RunLockedError         another run holds the database
    └── ConfigError                the feeds file or the options are wrong: exit 2

Foreign exceptions (aiohttp, sqlite3, asyncpg, XML parsers) are converted once, at the
boundary where they are caught, with ``raise ... from exc`` and with the context (URL,
supplier, request id, attempt) attached.
"""

from __future__ import annotations

__all__ = [
    "CircuitOpenError",
    "ConfigError",
    "FetchError",
    "PayloadError",
    "PermanentFetchError",
    "RunLockedError",
    "SinkError",
    "SupplyfeedError",
    "TransientFetchError",
]


class SupplyfeedError(Exception):
    """Base class of every error supplyfeed raises on purpose."""


class FetchError(SupplyfeedError):
    """A request failed. ``kind`` is a stable, machine-readable reason such as ``timeout``.

    The engine attaches the context of the attempt that failed (:meth:`bind`): ``url``
    (redacted), ``supplier``, ``request_id``, ``attempt`` (1-based) and ``elapsed``, the
    seconds the attempt spent on the wire. A transport that raises leaves them empty.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.url = ""
        self.supplier = ""
        self.request_id = ""
        self.attempt = 0
        self.elapsed = 0.0

    def bind(self, *, url: str, supplier: str, request_id: str, attempt: int) -> FetchError:
        """Attach the attempt's context (``url`` must be redacted already); returns self."""
        self.url = url
        self.supplier = supplier
        self.request_id = request_id
        self.attempt = attempt
        return self


class TransientFetchError(FetchError):
    """A failure that may pass: retried with backoff, and picked up again by ``resume``."""


class PermanentFetchError(FetchError):
    """A failure that will not pass by retrying (404, 401, 400, payload too large ...)."""


class CircuitOpenError(TransientFetchError):
    """The host's circuit is open (``_fetch/breaker.py``): the request was not sent.

    Transient, so ``resume`` picks the endpoint up, but never retried within the run:
    a retry would only meet the same open circuit."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="circuit_open")


class PayloadError(SupplyfeedError):
    """The payload was fetched but cannot be decoded or validated.

    ``where`` names the place, as precisely as the format allows: ``segment 12 (SN1)``,
    ``line 4``, ``$.items[3].sku`` or ``byte 1024``.  ``kind`` is a stable reason such as
    ``syntax``, ``envelope``, ``validation`` or ``unsafe_xml``.
    """

    def __init__(self, message: str, *, where: str = "", kind: str = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.message} (at {self.where})" if self.where else self.message


class SinkError(SupplyfeedError):
    """The database refused or lost a write. The run stops; committed work is kept."""


class RunLockedError(SinkError):
    """Another supplyfeed run holds the lock on this database."""


class ConfigError(SupplyfeedError):
    """A bad feeds file or bad options. ``location`` is ``file:line`` where known."""

    def __init__(self, message: str, *, location: str = "", key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.key = key

    def __str__(self) -> str:
        where = self.location
        if self.key:
            where = f"{where}: key '{self.key}'" if where else f"key '{self.key}'"
        return f"{where}: {self.message}" if where else self.message
