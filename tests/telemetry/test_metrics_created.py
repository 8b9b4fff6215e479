"""``*_created`` samples: decided by the caller (the CLI reads the environment), not at import."""

from __future__ import annotations

from prometheus_client import generate_latest

from supplyfeed._telemetry.metrics import CREATED_SERIES_ENV, Metrics, created_series


def test_the_environment_variable_is_read_as_prometheus_client_reads_it() -> None:
    assert created_series({}) is True
    assert created_series({CREATED_SERIES_ENV: "False"}) is True
    for value in ("true", "True", "1", "t"):
        assert created_series({CREATED_SERIES_ENV: value}) is False


def test_created_samples_follow_the_setting() -> None:
    """Counters and histograms carry ``_created`` samples unless told not to."""
    exposed = {}
    for setting in (True, False):
        metrics = Metrics(created_series=setting)
        metrics.request("ok", "example.com:443", 0.02)
        metrics.retry("http_503")
        exposed[setting] = generate_latest(metrics.registry).decode()
    assert "supplyfeed_requests_created" in exposed[True]
    assert "supplyfeed_request_duration_seconds_created" in exposed[True]
    assert "_created" not in exposed[False]
    assert 'supplyfeed_requests_total{outcome="ok"} 1.0' in exposed[False]
