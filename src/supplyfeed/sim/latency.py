"""Per-request latency of a simulated endpoint: lognormal, so most answers are quick and a
few are slow, as measured on real supplier APIs (a long right tail, not a bell curve)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["LatencyModel"]


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Lognormal latency in seconds with the given ``median``, capped at ``max``.

    ``sigma`` is the standard deviation of the underlying normal: 0.6 puts the 99th
    percentile near 4x the median. ``median=0`` means no latency at all.
    """

    median: float = 0.1
    sigma: float = 0.6
    max: float = 5.0

    def __post_init__(self) -> None:
        if self.median < 0 or self.sigma < 0 or self.max < 0:
            raise ValueError("latency parameters must be non-negative")

    def sample(self, rng: random.Random) -> float:
        """One latency draw from ``rng`` (the caller seeds it, so runs are reproducible)."""
        if self.median == 0:
            return 0.0
        return min(self.max, rng.lognormvariate(math.log(self.median), self.sigma))

    @property
    def worst_case(self) -> float:
        """The longest a single answer can be delayed by latency alone."""
        return 0.0 if self.median == 0 else self.max

    @classmethod
    def none(cls) -> LatencyModel:
        """No latency (tests that only care about behaviour)."""
        return cls(median=0.0, sigma=0.0, max=0.0)
