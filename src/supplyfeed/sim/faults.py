"""Faults a simulated endpoint can inject, and the outcome each one must lead to.

A :class:`Fault` is plain data; ``server.py`` acts it out and :meth:`Fault.outcome` says
what a correct client ends with, so the reliability checker can compare a run with the
truth. The list follows Toxiproxy's (latency, reset, slow close, bandwidth, timeout) plus
the HTTP-level faults supplier APIs really produce (5xx bursts, 429 with Retry-After,
404 for a retired feed, a body that is not what its Content-Type says).

Counting is per endpoint and per running fleet: the first ``times`` requests to the
endpoint misbehave, later ones succeed, whichever client attempt they belong to.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

__all__ = [
    "DEFAULT_FAULT_MIX",
    "FAULT_KINDS",
    "AmbiguousOutcome",
    "Fault",
    "FaultKind",
    "Outcome",
    "random_fault",
]

FaultKind: TypeAlias = Literal[
    "fail_then_ok",
    "retry_after",
    "hang",
    "reset",
    "truncate",
    "drip",
    "not_found",
    "malformed",
    "huge",
]
Outcome: TypeAlias = Literal["loaded", "failed", "quarantined"]

FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "fail_then_ok",
    "retry_after",
    "hang",
    "reset",
    "truncate",
    "drip",
    "not_found",
    "malformed",
    "huge",
)

# Mostly transient faults a retrying client recovers from, some it cannot (a hang, a 503
# that never ends, a 404, a corrupt body). ``huge`` is left out: its outcome depends on
# the client's max_payload_bytes, and a body past the 1 GiB default is no demo material.
DEFAULT_FAULT_MIX: Final[Mapping[str, float]] = {
    "fail_then_ok": 3.0,
    "retry_after": 2.0,
    "reset": 2.0,
    "truncate": 2.0,
    "drip": 1.0,
    "hang": 0.5,
    "down": 0.5,  # fail_then_ok with times=None: 503 on every request
    "not_found": 1.0,
    "malformed": 1.0,
}

_TRANSIENT_4XX: Final = frozenset({408, 425, 429})
_DEFAULT_MAX_PAYLOAD: Final = 1024 * 1024 * 1024  # FeedConfig.limits.max_payload_bytes default


class AmbiguousOutcome(ValueError):
    """The outcome depends on timing too close to the client's timeout to be a truth."""


def is_transient_status(status: int) -> bool:
    """Whether a client should retry this status (docs/contract.md §1: 5xx, 408, 425, 429)."""
    return status >= 500 or status in _TRANSIENT_4XX


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour of one endpoint. Build it with the classmethods.

    ``times`` is how many requests misbehave before the endpoint answers normally;
    ``None`` means every request does.
    """

    kind: FaultKind
    status: int = 200
    times: int | None = None
    seconds: float = 0.0
    http_date: bool = False
    bytes_per_chunk: int = 0
    delay: float = 0.0
    size_bytes: int = 0

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def fail_then_ok(cls, status: int = 503, times: int | None = 2) -> Fault:
        """``status`` (no body worth reading) ``times`` times, then success."""
        return cls("fail_then_ok", status=status, times=_check_times(times))

    @classmethod
    def retry_after(
        cls, seconds: float = 1.0, times: int = 1, status: int = 429, http_date: bool = False
    ) -> Fault:
        """``status`` with ``Retry-After`` (delta-seconds, or an HTTP-date that many seconds
        ahead) ``times`` times, then success. Delta-seconds are sent rounded up."""
        if status not in (429, 503):
            raise ValueError("Retry-After is meaningful on 429 and 503 only")
        if seconds < 0:
            raise ValueError("seconds must be non-negative")
        return cls("retry_after", status, _check_times(times), seconds=seconds, http_date=http_date)

    @classmethod
    def hang(cls, times: int | None = None) -> Fault:
        """Accept the request and never answer (until the client leaves or shutdown),
        ``times`` times (None: every request), then answer normally: ``hang(times=1)``
        hangs once, and a retry or a hedged request gets the answer."""
        return cls("hang", times=_check_times(times))

    @classmethod
    def reset(cls, times: int | None = 1) -> Fault:
        """Close the connection with a TCP RST instead of answering, ``times`` times."""
        return cls("reset", times=_check_times(times))

    @classmethod
    def truncate(cls, times: int | None = 1) -> Fault:
        """Send the full ``Content-Length``, half the body, then close, ``times`` times."""
        return cls("truncate", times=_check_times(times))

    @classmethod
    def drip(cls, bytes_per_chunk: int = 64, delay: float = 0.05) -> Fault:
        """Send the body in ``bytes_per_chunk`` pieces, ``delay`` seconds apart, always."""
        if bytes_per_chunk < 1 or delay < 0:
            raise ValueError("bytes_per_chunk must be >= 1 and delay >= 0")
        return cls("drip", bytes_per_chunk=bytes_per_chunk, delay=delay)

    @classmethod
    def not_found(cls) -> Fault:
        """404 on every request: a permanent failure, never to be retried."""
        return cls("not_found", status=404)

    @classmethod
    def malformed(cls) -> Fault:
        """200 with a body its format's decoder must reject, on every request."""
        return cls("malformed")

    @classmethod
    def huge(cls, size_bytes: int = 2 * 1024 * 1024 * 1024) -> Fault:
        """200 with a ``size_bytes`` body: the valid document, then newline padding.

        Meant to exceed the client's ``max_payload_bytes`` (a permanent ``too_large``
        failure); when it does not, the padding is whitespace every decoder skips and the
        endpoint loads normally.
        """
        if size_bytes < 1:
            raise ValueError("size_bytes must be positive")
        return cls("huge", size_bytes=size_bytes)

    # -- behaviour ----------------------------------------------------------------------
    def misbehaves_on(self, request_number: int) -> bool:
        """Whether the ``request_number``-th request (1-based) to the endpoint gets the fault."""
        return self.times is None or request_number <= self.times

    def outcome(
        self,
        attempts: int,
        timeout: float,
        *,
        body_bytes: int = 0,
        latency_max: float = 0.0,
        max_payload_bytes: int = _DEFAULT_MAX_PAYLOAD,
        silent_retries: int = 1,
    ) -> Outcome:
        """What a correct client making up to ``attempts`` attempts, each bounded by
        ``timeout`` seconds, ends with. ``body_bytes`` and ``latency_max`` describe the
        endpoint (a drip's duration depends on them); :class:`AmbiguousOutcome` when the
        answer would hinge on timing within a margin of the timeout.

        ``silent_retries`` is how often the HTTP client itself resends an idempotent
        request whose connection was reset before the response began (RFC 9112 §9.3.1):
        aiohttp does it once, so one client attempt can consume two of a ``reset``'s
        ``times``."""
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.kind == "hang" and not self._recovers_within(attempts, 1):
            return "failed"
        if self.kind == "not_found":
            return "failed"
        if self.kind == "huge" and self.size_bytes > max_payload_bytes:
            return "failed"
        if self.kind in ("fail_then_ok", "retry_after", "reset", "truncate"):
            per_attempt = 1 + silent_retries if self.kind == "reset" else 1
            if not self._recovers_within(attempts, per_attempt):
                return "failed"
        low, high = self._answer_time(body_bytes, latency_max)
        if _fits(high, timeout):
            return "quarantined" if self.kind == "malformed" else "loaded"
        if _exceeds(low, timeout):
            return "failed"
        raise AmbiguousOutcome(
            f"{self.kind}: an answer takes {low:.2f}-{high:.2f}s against a {timeout}s timeout"
        )

    def _recovers_within(self, attempts: int, requests_per_attempt: int) -> bool:
        """Whether some attempt reaches a request past the first ``times``."""
        if self.times is None:
            return False
        transient = self.kind in ("reset", "truncate", "hang") or is_transient_status(self.status)
        retried = attempts if transient else 1  # a permanent failure ends at once
        return self.times // requests_per_attempt < retried

    def _answer_time(self, body_bytes: int, latency_max: float) -> tuple[float, float]:
        """Bounds on the time of the answer that finally succeeds (or is quarantined)."""
        if self.kind != "drip":
            return 0.0, latency_max
        gaps = max(0, math.ceil(body_bytes / self.bytes_per_chunk) - 1) * self.delay
        return gaps, latency_max + gaps


def _fits(seconds: float, timeout: float) -> bool:
    # Leave room for scheduling noise on a loaded 2-core machine.
    return seconds * 1.25 + 0.05 < timeout


def _exceeds(seconds: float, timeout: float) -> bool:
    return seconds > timeout * 1.25 + 0.05


def _check_times(times: int | None) -> int | None:
    if times is not None and times < 0:
        raise ValueError("times must be non-negative (or None for always)")
    return times


def random_fault(kind: str, rng: random.Random) -> Fault:
    """A fault of mix entry ``kind`` with plausible parameters drawn from ``rng``."""
    if kind == "fail_then_ok":
        return Fault.fail_then_ok(rng.choice((500, 502, 503, 504)), times=rng.randint(1, 2))
    if kind == "down":
        return Fault.fail_then_ok(503, times=None)
    if kind == "retry_after":
        return Fault.retry_after(
            seconds=1.0, times=1, status=rng.choice((429, 503)), http_date=rng.random() < 0.3
        )
    if kind in ("reset", "truncate"):
        return Fault(kind, times=1)  # type: ignore[arg-type]
    if kind == "drip":
        return Fault.drip(bytes_per_chunk=256, delay=0.02)
    if kind == "hang":
        return Fault.hang()
    if kind == "hang_once":  # the first request hangs, later ones answer
        return Fault.hang(times=1)
    if kind == "not_found":
        return Fault.not_found()
    if kind == "malformed":
        return Fault.malformed()
    if kind == "huge":
        return Fault.huge()
    known = ", ".join(DEFAULT_FAULT_MIX)
    raise ValueError(f"unknown fault kind {kind!r} (known: {known}, hang_once, huge)")
