"""The pipeline's side of conditional requests: what is unchanged, and what to remember.

Before a run, the validators of every planned endpoint are read once from the store and
handed to the engine's :class:`ConditionalHook`. Each success is then checked: a 304, or
a body whose SHA-256 equals the last loaded body of that endpoint, becomes an
``unchanged`` ledger row with no decode and no write. Fresh validators are stored only
after their endpoint's row committed as ``loaded`` (or ``unchanged``): a body that was
quarantined or never written is fetched in full next time. Pages of a paged feed get
the body-hash check only (:meth:`UnchangedFilter.recall`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .._fetch.conditional import (
    ConditionalHook,
    Validators,
    ValidatorStore,
    request_key,
    validators_from,
)
from .._fetch.hooks import FetchHook
from .._fetch.outcome import FetchSuccess
from .._sink.base import EndpointRecord, Outcome

__all__ = ["UnchangedFilter"]


class UnchangedFilter:
    """Disabled (no hooks, nothing unchanged) when ``store`` is None or not ``enabled``."""

    def __init__(self, store: ValidatorStore | None, *, enabled: bool = True) -> None:
        self._store = store if enabled else None
        self._known: dict[str, Validators] = {}  # sent as conditional headers
        self._hashes: dict[str, Validators] = {}  # compared by body hash only (pages)
        self._pending: dict[str, Validators] = {}
        self.not_modified = 0  # 304s
        self.same_body = 0  # 200s whose body equals the last loaded one

    async def hooks(self, keys: Iterable[str]) -> list[FetchHook]:
        """Read the known validators of ``keys``; the hook that sends them."""
        if self._store is None:
            return []
        self._known = await self._store.get_validators(list(keys))
        return [ConditionalHook(self._known)]

    async def recall(self, keys: Sequence[str]) -> None:
        """Read the validators of ``keys`` for the body-hash check alone: a paged feed's
        walk needs every page's body to find the next page, so a page is never asked for
        conditionally, but a page identical to the one last loaded is not written again."""
        if self._store is None:
            return
        self._hashes.update(await self._store.get_validators(list(keys)))

    def is_unchanged(self, outcome: FetchSuccess) -> bool:
        """Whether ``outcome`` needs no decode and no write; remembers its validators."""
        if self._store is None:
            return False
        key = request_key(outcome.request)
        known = self._known.get(key) or self._hashes.get(key)
        if outcome.status == 304:
            self.not_modified += 1
            return True
        fresh = validators_from(outcome.headers, outcome.body.sha256)
        self._pending[key] = fresh
        if known is not None and known.sha256 == outcome.body.sha256:
            self.same_body += 1
            return True
        return False

    async def committed(self, records: Sequence[EndpointRecord]) -> None:
        """Store the validators of the endpoints whose rows just committed."""
        if self._store is None:
            return
        entries: dict[str, Validators] = {}
        for r in records:
            fresh = self._pending.pop(r.endpoint.key, None)
            if fresh is not None and r.outcome in (Outcome.LOADED, Outcome.UNCHANGED):
                entries[r.endpoint.key] = fresh
        await self._store.put_validators(entries)
