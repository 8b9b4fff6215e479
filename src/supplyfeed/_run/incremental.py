"""Incremental pulls: each run asks a feed only for data newer than what has loaded.

A feed with ``incremental`` names a cursor field (``updated_at``) and the query
parameter that carries it. Before the run, the stored value (``sf_cursors``), minus the
``lookback`` window, or else ``initial``, is added to the feed's URLs. While pages arrive
the highest value seen in their records is tracked per feed; it is stored only once the
feed's last page has committed as loaded and no page of it failed or was quarantined in
this run. A failed run therefore stores nothing, and the next run asks again from the old
value: overlapping data is harmless (loads are idempotent), a gap would not be.

A resumed run only knows the pages it fetched itself, so the value it stores may be lower
than the true maximum: the next run then asks for a little more, never for less.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from .._config import IncrementalSpec
from .._fetch.outcome import FetchOutcome, FetchSuccess
from .._fetch.pagination import with_param
from .._formats.mapping import lookup
from .._sink.base import PAGE_SUFFIX, EndpointRecord, Outcome
from .._sink.feed_state import FeedStateStore
from .plan import PlannedEndpoint

__all__ = ["CursorTracker", "cursor_max", "step_back"]

_OK = frozenset({Outcome.LOADED, Outcome.UNCHANGED})


def _feed_key(key: str) -> str:
    return key.split(PAGE_SUFFIX, 1)[0]


def _parse_time(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _order(value: str) -> tuple[int, Any]:
    """Timestamps compare as instants, numbers as numbers, anything else as text."""
    stamp = _parse_time(value)
    if stamp is not None:
        return (2, stamp)
    try:
        return (1, float(value))
    except ValueError:
        return (0, value)


def higher(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return a if _order(a) >= _order(b) else b


def step_back(value: str, lookback: float) -> str:
    """``value`` moved back by ``lookback`` seconds (timestamps) or units (numbers)."""
    if not lookback:
        return value
    stamp = _parse_time(value)
    if stamp is not None:
        text = (stamp - dt.timedelta(seconds=lookback)).isoformat()
        return text.replace("+00:00", "Z") if value.endswith("Z") else text
    try:
        number = float(value) - lookback
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() and "." not in value else str(number)


def _records(data: bytes, fmt: str, records_path: str) -> Iterable[Any]:
    if fmt == "csv":
        return csv.DictReader(io.StringIO(data.decode("utf-8-sig", errors="replace")))
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []  # the load quarantines it; no cursor from an unreadable page
    items = lookup(doc, records_path) if records_path else doc
    return items if isinstance(items, list) else [items]


def cursor_max(data: bytes, fmt: str, field: str, records_path: str = "") -> str | None:
    """The highest ``field`` value among a body's records (None: none has it)."""
    best: str | None = None
    for record in _records(data, fmt, records_path):
        value = record.get(field) if fmt == "csv" else lookup(record, field)
        if value is not None and not isinstance(value, dict | list | bool):
            best = higher(best, str(value))
    return best


class CursorTracker:
    """The incremental state of one run's feeds."""

    def __init__(self, store: FeedStateStore) -> None:
        self._store = store
        self._seen: dict[str, str | None] = {}  # feed key -> highest value this run
        self._dirty: set[str] = set()  # feeds with a failed or quarantined page
        self._paged: set[str] = set()  # finished only when their last page commits
        self.stored: dict[str, str] = {}  # what this run stored, for tests and the report

    async def prepare(self, todo: Sequence[PlannedEndpoint]) -> list[PlannedEndpoint]:
        """``todo`` with each incremental feed's URL asking only for newer data."""
        keys = [p.endpoint.key for p in todo if p.feed.incremental is not None]
        known = await self._store.get_cursors(keys) if keys else {}
        out: list[PlannedEndpoint] = []
        for p in todo:
            spec = p.feed.incremental
            if spec is None:
                out.append(p)
                continue
            self._seen.setdefault(p.endpoint.key, None)
            if p.feed.pagination is not None:
                self._paged.add(p.endpoint.key)
            value = _since(spec, known.get(p.endpoint.key))
            if value is not None:
                url = with_param(p.request.url, spec.param, value)
                p = dataclasses.replace(p, request=dataclasses.replace(p.request, url=url))
            out.append(p)
        return out

    def seen(self, outcome: FetchOutcome, planned: PlannedEndpoint) -> None:
        """Track the highest cursor value of a fetched body (before it is discarded)."""
        spec = planned.feed.incremental
        if spec is None or not isinstance(outcome, FetchSuccess) or outcome.status == 304:
            return
        records = planned.feed.pagination.records if planned.feed.pagination else ""
        if planned.feed.mapping is not None and not records:
            records = planned.feed.mapping.records
        value = cursor_max(outcome.body.read(), planned.feed.format, spec.cursor_field, records)
        key = _feed_key(planned.endpoint.key)
        self._seen[key] = higher(self._seen.get(key), value)

    def failed(self, records: Sequence[EndpointRecord]) -> None:
        for r in records:
            if r.outcome not in _OK:
                self._dirty.add(_feed_key(r.endpoint.key))

    async def committed(self, records: Sequence[EndpointRecord], finished: Iterable[str]) -> None:
        """Store the cursors of feeds whose every page has now loaded.

        ``finished``: paged feeds whose last page just committed; an unpaged feed is
        finished when its one row commits.
        """
        self.failed(records)
        done = set(finished)
        done.update(r.endpoint.key for r in records if r.endpoint.key not in self._paged)
        entries: dict[str, str] = {}
        for key in done:
            value = self._seen.get(key)
            if key in self._seen and key not in self._dirty and value is not None:
                entries[key] = value
        if entries:
            await self._store.put_cursors(entries)
            self.stored.update(entries)


def _since(spec: IncrementalSpec, stored: str | None) -> str | None:
    if stored is not None:
        return step_back(stored, spec.lookback)
    return spec.initial or None
