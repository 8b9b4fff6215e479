"""Where retries are decided: which failures are retried, and how long to wait.

- Transient: connection errors, timeouts, truncated bodies, 5xx, 408, 425 and 429.
- Permanent: every other 4xx (a 404 is never retried), TLS errors, bad URLs, payloads
  over ``max_payload_bytes``. They fail at once with the status kept.
- Delay before attempt *n + 1*: "full jitter" (AWS Architecture Blog, 2015),
  ``uniform(0, min(backoff_max, backoff_initial * backoff_base ** (n - 1)))``, drawn from
  a generator seeded by ``(seed, url, attempt)``: the same run waits the same times
  whatever the order in which tasks happen to be scheduled, and different URLs do not
  retry in lock-step (the guide's ``hash(url) % 1000`` is neither random nor
  reproducible across processes, since ``hash`` of a str is salted per process).
- ``Retry-After`` on 429 and 503 (delta-seconds or an HTTP-date) replaces the backoff
  when longer, capped at ``retry_after_cap``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random

from .._config import FeedConfig
from .._exceptions import (
    CircuitOpenError,
    FetchError,
    PermanentFetchError,
    TransientFetchError,
)

__all__ = ["RetryPolicy", "error_for_status", "parse_retry_after"]

_TRANSIENT_4XX = frozenset({408, 425, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})


def error_for_status(
    status: int, reason: str = "", retry_after: str | None = None, *, now: dt.datetime | None = None
) -> FetchError:
    """The typed error for a non-2xx status."""
    message = f"HTTP {status} {reason}".rstrip()
    if status >= 500 or status in _TRANSIENT_4XX:
        delay = parse_retry_after(retry_after, now=now) if status in _RETRY_AFTER_STATUSES else None
        return TransientFetchError(message, kind=f"http_{status}", status=status, retry_after=delay)
    return PermanentFetchError(message, kind=f"http_{status}", status=status)


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3), or None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


class RetryPolicy:
    """Decides whether an attempt is retried and how long to sleep first."""

    def __init__(self, config: FeedConfig) -> None:
        self._config = config

    @property
    def max_attempts(self) -> int:
        return self._config.retry_attempts

    def should_retry(self, error: FetchError, attempt: int) -> bool:
        """Whether to make another attempt after ``attempt`` attempts failed with ``error``."""
        if isinstance(error, CircuitOpenError):  # a retry would meet the same open circuit
            return False
        return isinstance(error, TransientFetchError) and attempt < self._config.retry_attempts

    def backoff(self, url: str, attempt: int) -> float:
        """The jittered backoff after the ``attempt``-th failed attempt (1-based)."""
        retry = self._config.retry
        growth = self._config.backoff_base ** (attempt - 1)
        ceiling = min(retry.backoff_max, retry.backoff_initial * growth)
        if not retry.jitter:
            return ceiling
        rng = random.Random(f"{retry.seed}|{url}|{attempt}")
        return rng.uniform(0.0, ceiling)

    def delay(self, error: FetchError, url: str, attempt: int) -> float:
        """Seconds to sleep before the next attempt: the backoff, or a longer Retry-After."""
        wait = self.backoff(url, attempt)
        if error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self._config.retry.retry_after_cap))
        return wait
