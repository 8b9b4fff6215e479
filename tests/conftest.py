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
