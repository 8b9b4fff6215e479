"""The run's side of pagination: walk each paged feed URL page after page.

Each page is its own ledger unit (endpoint key: the feed URL's key, then ``#page=N``
from the second page on) and goes down the same bounded queue as any payload, so it is
decoded and loaded as it arrives; pages are never gathered first. Pages of one feed are
fetched one after the other (the next URL comes from the page before); different paged
feeds, and the unpaged endpoints, run concurrently within the same limits.

After a page commits, the feed's *page mark* (the next page's index and URL) is stored
(``sf_page_marks``). ``resume`` starts each unfinished paged feed from its mark, so it
continues after the last page that loaded. A page that failed ends its feed's walk for
this run; its mark still points at it. A page whose body equals the one last loaded under
its key is ``unchanged`` (no decode, no write); it is still fetched, since its body names
the next page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

from .._exceptions import PayloadError
from .._fetch.engine import AsyncBatchIngestor
from .._fetch.outcome import FetchOutcome, FetchSuccess
from .._fetch.pagination import Paginator, page_documents
from .._formats.registry import get_decoder
from .._redact import redact_text, redact_url
from .._sink.base import PAGE_SUFFIX, EndpointRecord, LoadUnit, Outcome
from .._sink.feed_state import FeedStateStore, PageMark
from .plan import PlannedEndpoint

__all__ = ["PagedFeeds", "page_key"]

Emit = Callable[[FetchOutcome, PlannedEndpoint], Awaitable[None]]
Recall = Callable[[Sequence[str]], Awaitable[None]]
_RECALL_AHEAD: Final = 64  # pages whose last-loaded body hashes are read in one call
_DONE_OUTCOMES = frozenset({Outcome.LOADED, Outcome.UNCHANGED, Outcome.QUARANTINED})


def page_key(feed_key: str, index: int) -> str:
    """The ledger key of page ``index``; the first page keeps the feed URL's own key."""
    return feed_key if index == 1 else f"{feed_key}{PAGE_SUFFIX}{index}"


def _page(base: PlannedEndpoint, index: int, url: str) -> PlannedEndpoint:
    key = page_key(base.endpoint.key, index)
    endpoint = dataclasses.replace(base.endpoint, key=key, url=redact_url(url))
    request = dataclasses.replace(base.request, url=url, key=key)
    return PlannedEndpoint(endpoint, request, base.feed)


class PagedFeeds:
    """Walks the paged feeds of one run and keeps their page marks."""

    def __init__(
        self,
        store: FeedStateStore,
        run_id: str,
        secrets: Iterable[str] = (),
        recall: Recall | None = None,
    ) -> None:
        self._store = store
        self._recall = recall  # reads the body hashes of the next pages (unchanged.py)
        self._run_id = run_id
        self._secrets = tuple(secrets)
        self._marks: dict[str, PageMark] = {}
        self._pending: dict[str, tuple[str, PageMark]] = {}  # page key -> (feed key, mark)
        self.pages = 0  # pages fetched this run

    @staticmethod
    def is_paged(planned: PlannedEndpoint) -> bool:
        return planned.feed.pagination is not None

    async def walk(
        self, ingestor: AsyncBatchIngestor, feeds: Sequence[PlannedEndpoint], emit: Emit
    ) -> None:
        if not feeds:
            return
        self._marks = await self._store.get_page_marks(
            self._run_id, [p.endpoint.key for p in feeds]
        )
        async with asyncio.TaskGroup() as group:
            for base in feeds:
                group.create_task(
                    self._walk_one(ingestor, base, emit), name=f"pages {base.endpoint.key}"
                )

    async def _walk_one(
        self, ingestor: AsyncBatchIngestor, base: PlannedEndpoint, emit: Emit
    ) -> None:
        spec = base.feed.pagination
        assert spec is not None
        pager = Paginator(spec, base.request.url, base.feed.format)
        mark = self._marks.get(base.endpoint.key)
        index, url = (mark.next_index, mark.next_url) if mark else (1, pager.first())
        recalled = index
        while url is not None and not ingestor.stopping:
            if self._recall is not None and index == recalled:
                recalled = index + _RECALL_AHEAD
                await self._recall([page_key(base.endpoint.key, i) for i in range(index, recalled)])
            page = _page(base, index, url)
            outcome = await ingestor.fetch_one(page.request)
            self.pages += 1
            nxt: str | None = None
            if isinstance(outcome, FetchSuccess):
                try:
                    nxt = pager.next(url, index, outcome.headers, outcome.body)
                except PayloadError:
                    # The page's own load quarantines it; without a next pointer the walk
                    # stops here and no mark moves past it, so resume fetches it again.
                    await emit(outcome, page)
                    return
                stored = None if nxt is None else redact_text(nxt, self._secrets)
                self._pending[page.endpoint.key] = (base.endpoint.key, PageMark(index + 1, stored))
            await emit(outcome, page)
            if not isinstance(outcome, FetchSuccess):
                return
            index, url = index + 1, nxt

    def item(self, item: object, planned: PlannedEndpoint) -> object:
        """A page's load unit decodes only its document list (``records``) when set."""
        spec = planned.feed.pagination
        if spec is not None and isinstance(item, LoadUnit):
            item.paged = True  # its source's delivery ends with the last page
        if (
            spec is None
            or not spec.records
            or planned.feed.format != "json"
            or planned.feed.mapping is not None
            or not isinstance(item, LoadUnit)
        ):
            return item
        decode = get_decoder("json")
        body, ctx = item.body, planned.decode_context()
        # A partial, not a lambda: the unit may be pickled to the SQLite worker process.
        item.documents = functools.partial(page_documents, body, ctx, spec.records, decode)
        return item

    async def committed(self, records: Sequence[EndpointRecord]) -> set[str]:
        """Store the marks of pages whose rows just committed (in commit order); return
        the feeds whose last page is among them."""
        marks: dict[str, PageMark] = {}
        for r in records:
            pending = self._pending.pop(r.endpoint.key, None)
            if pending is not None and r.outcome in _DONE_OUTCOMES:
                marks[pending[0]] = pending[1]
        if marks:
            await self._store.put_page_marks(self._run_id, marks)
        return {key for key, mark in marks.items() if mark.next_url is None}
