"""Where retries are decided: classification, Retry-After and seeded full jitter."""

from __future__ import annotations

import datetime as dt

import pytest

from supplyfeed import FeedConfig, PermanentFetchError, Retry, TransientFetchError
from supplyfeed._fetch.retry import RetryPolicy, error_for_status, parse_retry_after


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 425, 429])
def test_transient_statuses_are_retried(status: int) -> None:
    """5xx, 408, 425 and 429 are transient."""
    error = error_for_status(status)
    assert isinstance(error, TransientFetchError)
    assert RetryPolicy(FeedConfig(retry_attempts=3)).should_retry(error, attempt=1)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_4xx_are_permanent_and_never_retried(status: int) -> None:
    """A 404 (or any 4xx but 408/425/429) fails at once."""
    error = error_for_status(status)
    assert isinstance(error, PermanentFetchError)
    assert error.status == status
    assert not RetryPolicy(FeedConfig(retry_attempts=5)).should_retry(error, attempt=1)


def test_no_retry_after_last_attempt() -> None:
    """retry_attempts is the total number of attempts, as in the guide's loop."""
    policy = RetryPolicy(FeedConfig(retry_attempts=3))
    error = error_for_status(503)
    assert policy.should_retry(error, 2)
    assert not policy.should_retry(error, 3)


def test_retry_after_seconds_and_http_date() -> None:
    """Retry-After is read as delta-seconds or as an HTTP-date."""
    now = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_after_only_on_429_and_503() -> None:
    """A Retry-After on a 500 does not override the backoff."""
    assert error_for_status(429, retry_after="3").retry_after == 3.0
    assert error_for_status(503, retry_after="3").retry_after == 3.0
    assert error_for_status(500, retry_after="3").retry_after is None


def test_retry_after_is_honoured_and_capped() -> None:
    """The wait is at least Retry-After, but never more than retry_after_cap."""
    policy = RetryPolicy(FeedConfig(retry=Retry(retry_after_cap=10.0, backoff_initial=0.01)))
    assert policy.delay(error_for_status(429, retry_after="4"), "http://a/x", 1) == 4.0
    assert policy.delay(error_for_status(429, retry_after="3600"), "http://a/x", 1) == 10.0


def test_full_jitter_is_reproducible_from_the_seed() -> None:
    """Same seed, URL and attempt give the same wait in any process; other URLs differ."""
    a = RetryPolicy(FeedConfig(retry=Retry(seed=42)))
    b = RetryPolicy(FeedConfig(retry=Retry(seed=42)))
    c = RetryPolicy(FeedConfig(retry=Retry(seed=43)))
    waits = [a.backoff(f"http://h/{i}", 2) for i in range(50)]
    assert waits == [b.backoff(f"http://h/{i}", 2) for i in range(50)]
    assert waits != [c.backoff(f"http://h/{i}", 2) for i in range(50)]
    assert len(set(waits)) == 50


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    """Attempt n waits uniformly in [0, min(backoff_max, initial * base**(n-1))]."""
    policy = RetryPolicy(
        FeedConfig(backoff_base=2.0, retry=Retry(backoff_initial=1.0, backoff_max=5.0))
    )
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        waits = [policy.backoff(f"http://h/{i}", attempt) for i in range(300)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # uses the whole range: real jitter


def test_jitter_off_gives_the_ceiling() -> None:
    policy = RetryPolicy(
        FeedConfig(backoff_base=2.0, retry=Retry(jitter=False, backoff_initial=0.5))
    )
    assert [policy.backoff("http://h/x", n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
