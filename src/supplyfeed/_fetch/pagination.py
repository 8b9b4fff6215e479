"""Pagination: from one page's answer to the URL of the next page, or the end.

A :class:`Paginator` is pure: given the page just fetched (its URL, index, headers and
body) it returns the next page's URL or None. The run walks a feed's pages one after the
other (``_run/paging.py``); each page is decoded and loaded on its own as it arrives.

Styles (``PaginationSpec.style``):

- ``next_url``: a dotted path in the JSON body holds the next URL (relative URLs are
  resolved against the page's URL);
- ``cursor``: a dotted path holds an opaque cursor, sent back in the ``param`` query
  parameter of the feed's URL;
- ``link``: the RFC 8288 ``Link`` header's ``rel="next"`` target;
- ``page`` / ``offset``: a counter in ``param`` (pages from ``start``, or items in steps
  of ``page_size``), ended by the ``stop`` rule: an ``empty`` page, a ``short`` page
  (fewer than ``page_size`` records) or the ``total`` count at ``total_path``.

A JSON page whose documents sit inside an envelope (``{"data": [...], "next": ...}``)
names the list with ``records``; :func:`page_documents` decodes only that list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson

from .._config import PaginationSpec
from .._exceptions import PayloadError
from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.mapping import lookup
from .._models import Document
from .headers import header_value

__all__ = ["Paginator", "link_next", "page_documents", "with_param"]

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL_NEXT = re.compile(r'rel\s*=\s*"?([^";]*)"?', re.IGNORECASE)


def with_param(url: str, name: str, value: str | int) -> str:
    """``url`` with query parameter ``name`` set to ``value`` (replacing any earlier one)."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    pairs.append((name, str(value)))
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def link_next(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, if any."""
    value = header_value(headers, "Link")
    if not value:
        return None
    for target, params in _LINK.findall(value):
        for rel in _REL_NEXT.findall(params):
            if "next" in rel.lower().split():
                return str(target)
    return None


def _json(body: Body) -> Any:
    try:
        return orjson.loads(body.read())
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"page is not JSON: {exc.msg}", where=f"byte {exc.pos}") from exc


def _records(doc: Any, path: str) -> Any:
    return lookup(doc, path) if path else doc


class Paginator:
    """The page sequence of one feed URL."""

    def __init__(self, spec: PaginationSpec, url: str, fmt: str) -> None:
        self.spec = spec
        self.url = url
        self.format = fmt
        default = 1 if spec.style == "page" else 0
        self.start = default if spec.start is None else spec.start

    def first(self) -> str:
        spec = self.spec
        url = self.url
        if spec.style in ("page", "offset"):
            url = with_param(url, spec.param, self.start)
        if spec.size_param and spec.page_size:
            url = with_param(url, spec.size_param, spec.page_size)
        return url

    def next(self, url: str, index: int, headers: Mapping[str, str], body: Body) -> str | None:
        """The URL after page ``index`` (1-based) fetched from ``url``; None: the last."""
        spec = self.spec
        if index >= spec.max_pages:
            return None
        if spec.style == "link":
            target = link_next(headers)
            nxt = urljoin(url, target) if target else None
        elif spec.style in ("next_url", "cursor"):
            value = lookup(_json(body), spec.path)
            if value in (None, "") or isinstance(value, dict | list | bool):
                return None
            if spec.style == "next_url":
                nxt = urljoin(url, str(value))
            else:
                nxt = with_param(self.first(), spec.param, str(value))
        else:
            nxt = self._counted_next(index, body)
        return None if nxt == url else nxt  # a server pointing at the same page: stop

    def _counted_next(self, index: int, body: Body) -> str | None:
        spec = self.spec
        count = self._count(body)
        if count == 0:
            return None
        if spec.stop == "short" and count < spec.page_size:
            return None
        if spec.stop == "total":
            total = lookup(_json(body), spec.total_path)
            seen = (index - 1) * spec.page_size + count
            if not isinstance(total, int) or seen >= total:
                return None
        step = 1 if spec.style == "page" else (spec.page_size or count)
        value = self.start + index * step
        url = with_param(self.url, spec.param, value)
        if spec.size_param and spec.page_size:
            url = with_param(url, spec.size_param, spec.page_size)
        return url

    def _count(self, body: Body) -> int:
        """Records on the page: the JSON list at ``records``, or CSV data rows."""
        if self.format == "csv":
            lines = [ln for ln in body.read().splitlines() if ln.strip()]
            return max(0, len(lines) - 1)
        items = _records(_json(body), self.spec.records)
        if not isinstance(items, list):
            raise PayloadError("page has no list of records", where=self.spec.records or "$")
        return len(items)


def page_documents(body: Body, ctx: DecodeContext, records: str, decode: Any) -> Iterator[Document]:
    """Decode the document list at ``records`` of a JSON page with ``decode``."""
    items = _records(_json(body), records)
    if not isinstance(items, list):
        raise PayloadError("page has no list of documents", where=records)
    yield from decode(Body.from_bytes(orjson.dumps(items)), ctx)
