"""FeedConfig's groups: the flat feeds-file keys land in them, defaults and messages as before."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import yaml

from supplyfeed import (
    Adaptive,
    Breaker,
    ConfigError,
    FeedConfig,
    Hedge,
    Limits,
    RateLimit,
    Retry,
    SlaPolicy,
    Timeouts,
)
from supplyfeed._config import KEYS, read_key, with_keys
from supplyfeed._feedsfile import FeedsFile, parse_feeds
from supplyfeed._sink.factory import open_sink
from supplyfeed._sink.postgres import PostgresOptions, PostgresSink

# Every key of the feeds file, none at its default.
EVERY_KEY: dict[str, Any] = {
    "max_concurrency": 7,
    "timeout_seconds": 11.5,
    "batch_size": 13,
    "retry_attempts": 4,
    "backoff_base": 2.5,
    "limit_per_host": 3,
    "connect_timeout": 1.25,
    "read_timeout": 2.75,
    "backoff_initial": 0.125,
    "backoff_max": 9.0,
    "jitter": False,
    "seed": 42,
    "retry_after_cap": 17.0,
    "max_payload_bytes": 12_345_678,
    "max_decompression_ratio": 55.0,
    "max_redirects": 2,
    "sftp_max_channels": 4,
    "spool_threshold_bytes": 4096,
    "request_id_header": "X-Corr",
    "user_agent": "probe/1",
    "sla_seconds": 60.0,
    "error_rate_threshold": 0.25,
    "loop_lag_threshold": 0.5,
    "conditional_requests": False,
    "breaker_threshold": 0,
    "breaker_cooldown": 5.0,
    "rate_limit_per_second": 2.5,
    "rate_limit_burst": 6,
    "honour_rate_limit_headers": False,
    "adaptive_concurrency": True,
    "adaptive_latency_factor": 3.0,
    "hedge": False,
    "hedge_after": 0.75,
    "hedge_budget": 0.2,
}
EVERY_KEY_CONFIG = FeedConfig(
    max_concurrency=7,
    timeout_seconds=11.5,
    batch_size=13,
    retry_attempts=4,
    backoff_base=2.5,
    timeouts=Timeouts(connect=1.25, read=2.75),
    retry=Retry(
        backoff_initial=0.125, backoff_max=9.0, jitter=False, seed=42, retry_after_cap=17.0
    ),
    limits=Limits(
        per_host=3,
        max_payload_bytes=12_345_678,
        max_decompression_ratio=55.0,
        max_redirects=2,
        sftp_max_channels=4,
        spool_threshold_bytes=4096,
    ),
    breaker=Breaker(threshold=0, cooldown=5.0),
    rate_limit=RateLimit(per_second=2.5, burst=6, honour_headers=False),
    adaptive=Adaptive(enabled=True, latency_factor=3.0),
    hedge=Hedge(enabled=False, after=0.75, budget=0.2),
    sla=SlaPolicy(seconds=60.0, error_rate_threshold=0.25, loop_lag_threshold=0.5),
    conditional_requests=False,
    request_id_header="X-Corr",
    user_agent="probe/1",
)


def _feeds(defaults: dict[str, Any], overrides: dict[str, Any] | None = None) -> FeedsFile:
    supplier: dict[str, Any] = {
        "id": "A",
        "feeds": [{"kind": "po_ack", "format": "json", "urls": ["http://127.0.0.1:9/a"]}],
    }
    if overrides is not None:
        supplier["overrides"] = overrides
    doc = {"defaults": defaults, "suppliers": [supplier]}
    return parse_feeds(yaml.safe_dump(doc, sort_keys=False), "f.yaml", {})


def test_a_feeds_file_with_every_key_set_loads_into_the_groups() -> None:
    """Each of the 34 flat keys of ``defaults:`` lands in its group, with its value."""
    assert len(EVERY_KEY) == len(KEYS)
    feeds = _feeds(EVERY_KEY)
    assert feeds.defaults == EVERY_KEY_CONFIG
    assert feeds.suppliers[0].config == EVERY_KEY_CONFIG


def test_overrides_change_one_field_of_a_group_and_keep_the_others() -> None:
    """A supplier's ``limit_per_host`` and ``seed`` leave the rest of Limits and Retry as
    ``defaults:`` set them."""
    feeds = _feeds(EVERY_KEY, {"limit_per_host": 9, "seed": 1, "read_timeout": 4})
    base = EVERY_KEY_CONFIG
    assert feeds.suppliers[0].config == base.replace(
        limits=dataclasses.replace(base.limits, per_host=9),
        retry=dataclasses.replace(base.retry, seed=1),
        timeouts=Timeouts(connect=1.25, read=4.0),
    )
    assert feeds.defaults == base


def test_the_defaults_are_unchanged() -> None:
    """The guide's five fields and every other default, by feeds-file key, in the order
    an unknown key's message lists them."""
    assert {key: read_key(FeedConfig(), key) for key in KEYS} == {
        "max_concurrency": 50,
        "timeout_seconds": 30.0,
        "batch_size": 100,
        "retry_attempts": 3,
        "backoff_base": 1.5,
        "limit_per_host": 10,
        "connect_timeout": 10.0,
        "read_timeout": 30.0,
        "backoff_initial": 1.0,
        "backoff_max": 30.0,
        "jitter": True,
        "seed": 0,
        "retry_after_cap": 60.0,
        "max_payload_bytes": 1024 * 1024 * 1024,
        "max_decompression_ratio": 100.0,
        "max_redirects": 5,
        "sftp_max_channels": 8,
        "spool_threshold_bytes": 50 * 1024 * 1024,
        "request_id_header": "X-Request-ID",
        "user_agent": "supplyfeed/0.1",
        "sla_seconds": 900.0,
        "error_rate_threshold": 0.02,
        "loop_lag_threshold": 0.1,
        "conditional_requests": True,
        "breaker_threshold": 10,
        "breaker_cooldown": 30.0,
        "rate_limit_per_second": 0.0,
        "rate_limit_burst": 0,
        "honour_rate_limit_headers": True,
        "adaptive_concurrency": False,
        "adaptive_latency_factor": 2.0,
        "hedge": True,
        "hedge_after": 0.0,
        "hedge_budget": 0.05,
    }
    assert FeedConfig(50, 30.0, 100, 3, 1.5) == FeedConfig()  # the guide's positional order
    assert _feeds({}).defaults == FeedConfig()


def test_every_field_of_every_group_has_exactly_one_key() -> None:
    """A field added to a group without a feeds-file key (or two keys for one field)
    fails here, not silently in a user's file."""
    places = []
    for f in dataclasses.fields(FeedConfig):
        value = getattr(FeedConfig(), f.name)
        if dataclasses.is_dataclass(value):
            places += [(f.name, g.name) for g in dataclasses.fields(value)]
        else:
            places.append((f.name, ""))
    assert sorted(places) == sorted(KEYS.values())


def test_with_keys_applies_flat_keys_to_their_groups() -> None:
    config = with_keys(FeedConfig(), {"hedge_after": 0.5, "limit_per_host": 2, "batch_size": 5})
    assert config == FeedConfig(batch_size=5, hedge=Hedge(after=0.5), limits=Limits(per_host=2))
    assert read_key(config, "hedge_after") == 0.5


BAD = [
    ("max_concurrency", 0, "must be at least 1, got 0"),
    ("timeout_seconds", 0, "must be positive, got 0.0"),
    ("backoff_base", 0.5, "must be at least 1.0"),
    ("limit_per_host", 0, "must be at least 1, got 0"),
    ("sftp_max_channels", 0, "must be at least 1, got 0"),
    ("connect_timeout", 0, "must be positive, got 0.0"),
    ("read_timeout", -1, "must be positive, got -1.0"),
    ("max_redirects", -1, "must not be negative"),
    ("max_decompression_ratio", 0.5, "must be at least 1"),
    ("max_payload_bytes", 0, "must be at least 1, got 0"),
    ("spool_threshold_bytes", 0, "must be at least 1, got 0"),
    ("breaker_threshold", -1, "must not be negative, got -1"),
    ("breaker_cooldown", 0, "must be positive"),
    ("rate_limit_per_second", -1, "must not be negative"),
    ("rate_limit_burst", -1, "must not be negative, got -1"),
    ("adaptive_latency_factor", 1, "must be greater than 1"),
    ("hedge_after", -1, "must not be negative (0: from latency)"),
    ("hedge_budget", 1.5, "must be a share between 0 and 1, e.g. 0.05"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_is_named_by_file_line_and_key(key: str, value: Any, message: str) -> None:
    """A group refuses the value and the error still reads ``f.yaml:LINE: key 'KEY'``."""
    with pytest.raises(ConfigError) as defaults:
        _feeds({key: value})
    assert str(defaults.value) == f"f.yaml:2: key 'defaults.{key}': {message}"
    with pytest.raises(ConfigError) as overrides:
        _feeds({}, {key: value})
    where = re.escape(f": key 'suppliers[0].overrides.{key}': {message}")
    assert re.fullmatch(rf"f\.yaml:\d+{where}", str(overrides.value))


def test_a_group_made_in_python_names_the_feeds_file_key() -> None:
    with pytest.raises(ConfigError) as caught:
        FeedConfig(limits=Limits(per_host=0))
    assert caught.value.key == "limit_per_host"
    with pytest.raises(ConfigError) as caught:
        Timeouts(read=0)
    assert caught.value.key == "read_timeout"


def test_postgres_options_keep_the_sinks_defaults_and_pass_through_the_factory() -> None:
    """PostgresSink's seven settings moved into PostgresOptions with the same defaults;
    open_sink hands ``options=`` to the sink (nothing connects until open)."""
    assert dataclasses.astuple(PostgresOptions()) == (
        "./supplyfeed-dead-letters", 50_000, 10.0, 10.0, 6, 0.25, 5.0
    )  # fmt: skip
    assert PostgresSink("postgresql://u@127.0.0.1/db").options == PostgresOptions()
    options = PostgresOptions(chunk_rows=7, max_attempts=2, dead_letter_dir="dl")
    sink = open_sink("postgresql://u@127.0.0.1/db", lock=False, options=options)
    assert isinstance(sink, PostgresSink)
    assert sink.options is options
    assert str(sink.dead_letter_dir) == "dl"
