"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from .virtual_time import VirtualClock

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT.parent / "shared" / "samples"


@pytest.fixture
def samples_dir() -> Path:
    """The shared real-world samples (read in place, never copied); skips when absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real-world samples not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture
def clock() -> VirtualClock:
    """Virtual time: pass ``clock`` and ``clock.sleep`` where the code takes a clock and a
    sleep; a sleep jumps the clock to its deadline at once (see tests/virtual_time.py)."""
    return VirtualClock()


def _needs_postgresql(item: pytest.Item) -> bool:
    if item.get_closest_marker("postgres") is not None:
        return True
    if "pg_database" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)  # a sink_url, db_url ... case "postgres"
    return callspec is not None and any(v == "postgres" for v in callspec.params.values())


@pytest.hookimpl(tryfirst=True)  # before -m deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the PostgreSQL server is marked ``postgres`` and ``slow``: half
    of the quick lane's time went to them (database resets, a server on the same two
    cores), so ``-m "not slow"`` leaves them to the full suite, which CI runs."""
    for item in items:
        if _needs_postgresql(item):
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.slow)
