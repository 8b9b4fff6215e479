"""Fault.outcome: the ground truth a correct client must reach, fault by fault."""

from __future__ import annotations

import pytest

from supplyfeed.sim import AmbiguousOutcome, Fault, Outcome

GiB = 1024**3


@pytest.mark.parametrize(
    ("fault", "attempts", "expected"),
    [
        (Fault.fail_then_ok(503, times=2), 3, "loaded"),
        (Fault.fail_then_ok(503, times=3), 3, "failed"),
        (Fault.fail_then_ok(503, times=None), 5, "failed"),
        (Fault.fail_then_ok(429, times=1), 2, "loaded"),
        (Fault.fail_then_ok(404, times=1), 3, "failed"),  # permanent: never retried
        (Fault.fail_then_ok(404, times=0), 1, "loaded"),
        (Fault.retry_after(seconds=2, times=1), 2, "loaded"),
        (Fault.retry_after(seconds=2, times=1), 1, "failed"),
        (Fault.reset(times=1), 1, "loaded"),  # aiohttp's silent resend absorbs one reset
        (Fault.reset(times=2), 1, "failed"),
        (Fault.reset(times=5), 3, "loaded"),
        (Fault.reset(times=6), 3, "failed"),
        (Fault.reset(times=None), 9, "failed"),
        (Fault.truncate(times=1), 1, "failed"),
        (Fault.truncate(times=1), 2, "loaded"),
        (Fault.hang(), 5, "failed"),
        (Fault.not_found(), 3, "failed"),
        (Fault.malformed(), 3, "quarantined"),
        (Fault.huge(size_bytes=2 * GiB), 3, "failed"),
        (Fault.huge(size_bytes=1000), 3, "loaded"),
    ],
)
def test_outcome_per_fault(fault: Fault, attempts: int, expected: Outcome) -> None:
    """Transient faults load when some attempt gets past them; permanent ones never do."""
    assert fault.outcome(attempts, timeout=1.0) == expected


def test_drip_outcome_depends_on_body_size_and_timeout() -> None:
    """A 6400-byte drip at 64 B / 50 ms takes ~5 s: fails at 1 s, loads at 30 s."""
    drip = Fault.drip(bytes_per_chunk=64, delay=0.05)
    assert drip.outcome(3, 1.0, body_bytes=6400) == "failed"
    assert drip.outcome(3, 30.0, body_bytes=6400) == "loaded"
    with pytest.raises(AmbiguousOutcome):
        drip.outcome(3, 5.0, body_bytes=6400)


def test_latency_near_the_timeout_is_ambiguous() -> None:
    """A healthy answer that may take up to 1 s cannot be promised under a 1 s timeout."""
    with pytest.raises(AmbiguousOutcome):
        Fault.fail_then_ok(times=0).outcome(3, 1.0, latency_max=1.0)


def test_huge_depends_on_the_clients_payload_limit() -> None:
    """huge() fails only when its size is over the client's max_payload_bytes."""
    huge = Fault.huge(size_bytes=10_000)
    assert huge.outcome(1, 5.0, max_payload_bytes=9_999) == "failed"
    assert huge.outcome(1, 5.0, max_payload_bytes=10_000) == "loaded"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Fault.retry_after(status=500),
        lambda: Fault.reset(times=-1),
        lambda: Fault.drip(bytes_per_chunk=0),
        lambda: Fault.huge(size_bytes=0),
    ],
)
def test_invalid_fault_parameters_are_rejected(make: object) -> None:
    """Nonsense parameters fail at construction, not mid-run."""
    with pytest.raises(ValueError, match=r"must|meaningful"):
        make()  # type: ignore[operator]


def test_public_names_are_pinned() -> None:
    """supplyfeed.sim exports exactly its curated API."""
    import supplyfeed.sim

    assert set(supplyfeed.sim.__all__) == {
        "DEFAULT_FAULT_MIX", "FAULT_KINDS", "TABLES", "AmbiguousOutcome", "Degradation",
        "Discrepancy", "EndpointSpec", "EndpointStats", "Fault", "FaultKind", "FleetSpec",
        "FleetStats", "GroundTruth", "HostBehaviour", "HostCounters", "LatencyModel",
        "Outcome", "PortStats", "RateLimit", "RendererUnavailable", "SftpDrop",
        "SupplierFleet", "TokenEndpoint", "get_renderer", "table_keys",
        "Delivery", "Expected", "expected_state", "identity_fleet", "split_snapshot",
        "paged_snapshot", "corrected_snapshot", "duplicate_asns",
    }  # fmt: skip
    assert all(hasattr(supplyfeed.sim, name) for name in supplyfeed.sim.__all__)
