"""Paged views of the fleet's JSON endpoints: every pagination style supplyfeed reads.

``GET {endpoint path}/paged/{style}`` serves the documents of a canonical JSON endpoint
(the same documents, so :meth:`SupplierFleet.expected` stays the ground truth) split into
pages of ``per_page`` documents (default 1):

- ``next``: ``{"data": [...], "links": {"next": "<relative URL>"}}``;
- ``cursor``: ``{"data": [...], "meta": {"cursor": "<opaque>"}}`` (``?cursor=``);
- ``link``: a JSON array with a ``Link: <...>; rel="next"`` header (``?p=``);
- ``page``: ``{"items": [...], "total": N}`` (``?page=`` from 1);
- ``offset``: a JSON array (``?offset=&limit=``), ending with an empty page.

:func:`paged_feeds_document` writes the matching feeds file; :func:`page_supplier` turns
one supplier of a feeds file into a paged API, its JSON endpoints spread over the styles.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from .server import SupplierFleet

__all__ = ["PAGED", "PAGINATION", "STYLES", "page_supplier", "paged_feeds_document", "serve_page"]

PAGED: Final = "/paged/"
STYLES: Final = ("next", "cursor", "link", "page", "offset")
PAGINATION: Final[Mapping[str, dict[str, Any]]] = {
    "next": {"style": "next_url", "path": "links.next", "records": "data"},
    "cursor": {"style": "cursor", "path": "meta.cursor", "param": "cursor", "records": "data"},
    "link": {"style": "link"},
    "page": {
        "style": "page",
        "param": "page",
        "page_size": 1,
        "size_param": "per_page",
        "stop": "total",
        "total_path": "total",
        "records": "items",
    },
    "offset": {"style": "offset", "param": "offset", "page_size": 1, "size_param": "limit"},
}


def _documents(body: bytes) -> list[Any]:
    doc = orjson.loads(body)
    return doc if isinstance(doc, list) else [doc]


def _cursor(n: int) -> str:
    return base64.urlsafe_b64encode(f"after:{n}".encode()).decode().rstrip("=")


def _uncursor(value: str) -> int:
    padded = value + "=" * (-len(value) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().removeprefix("after:"))


def serve_page(body: bytes, base_path: str, request: web.BaseRequest) -> web.Response:
    """One page of the canonical JSON ``body`` in the style named by the request path."""
    style = request.path.rpartition(PAGED)[2]
    q = request.query
    size = int(q.get("per_page") or q.get("limit") or 1)
    docs = _documents(body)
    start = {
        "next": lambda: int(q.get("after", "0")),
        "cursor": lambda: _uncursor(q["cursor"]) if q.get("cursor") else 0,
        "link": lambda: int(q.get("p", "0")) * size,
        "page": lambda: (int(q.get("page", "1")) - 1) * size,
        "offset": lambda: int(q.get("offset", "0")),
    }.get(style)
    if start is None:
        return web.Response(status=404, text="no such paging style")
    first = start()
    page = docs[first : first + size]
    more = first + size < len(docs)
    here = f"{base_path}{PAGED}{style}"
    headers: dict[str, str] = {}
    out: Any = page
    if style == "next":
        out = {"data": page, "links": {"next": f"{here}?after={first + size}" if more else None}}
    elif style == "cursor":
        out = {"data": page, "meta": {"cursor": _cursor(first + size) if more else None}}
    elif style == "link" and more:
        host = request.host
        headers["Link"] = f'<http://{host}{here}?p={first // size + 1}>; rel="next"'
    elif style == "page":
        out = {"items": page, "total": len(docs)}
    return web.Response(body=orjson.dumps(out), headers=headers, content_type="application/json")


def paged_feeds_document(
    fleet: SupplierFleet, style: str, defaults: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """The fleet's feeds file with every JSON endpoint read through ``style`` pages."""
    doc = fleet.feeds_document(defaults=defaults)
    for supplier in doc["suppliers"]:
        for feed in supplier["feeds"]:
            if feed["format"] == "json":
                feed["urls"] = [f"{u}{PAGED}{style}" for u in feed["urls"]]
                feed["pagination"] = dict(PAGINATION[style])
    return doc


def page_supplier(
    doc: dict[str, Any], supplier_id: str, styles: Sequence[str] = STYLES
) -> dict[str, Any]:
    """``doc`` (a fleet's feeds file) with ``supplier_id``'s JSON endpoints read through
    pages: its JSON URLs go round-robin to ``styles`` (across its feeds, so that as many
    styles as URLs are used), one feed per (kind, style). Changes ``doc`` in place and
    returns it."""
    unknown = set(styles) - set(STYLES)
    if unknown or not styles:
        raise ValueError(f"paging styles must be among {', '.join(STYLES)}")
    supplier = next(s for s in doc["suppliers"] if s["id"] == supplier_id)
    feeds: list[dict[str, Any]] = []
    turn = 0
    for feed in supplier["feeds"]:
        if feed["format"] != "json":
            feeds.append(feed)
            continue
        by_style: dict[str, list[str]] = {}
        for url in feed["urls"]:
            style = styles[turn % len(styles)]
            turn += 1
            by_style.setdefault(style, []).append(f"{url}{PAGED}{style}")
        feeds += [
            {**feed, "urls": urls, "pagination": dict(PAGINATION[style])}
            for style, urls in by_style.items()
        ]
    supplier["feeds"] = feeds
    return doc
