"""What a run tells a progress display. The CLI's rich display implements it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .._sink.base import Outcome

__all__ = ["NullProgress", "ProgressListener"]


class ProgressListener(Protocol):
    def start(self, totals: Mapping[str, int]) -> None:
        """Called once with the number of endpoints to fetch per feed kind."""

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        """One endpoint of ``kind`` finished."""

    def stop(self) -> None: ...


class NullProgress:
    def start(self, totals: Mapping[str, int]) -> None:
        pass

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        pass

    def stop(self) -> None:
        pass
