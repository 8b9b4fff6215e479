"""``supplyfeed dead-letters`` and ``supplyfeed replay``."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator, Sequence

import msgspec
from rich.table import Table

from .._exceptions import PayloadError
from .._feedsfile import FeedsFile
from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.registry import get_decoder
from .._models import Document
from .._run.plan import plan_endpoints
from .._sink.base import DeadLetter
from .._sink.factory import open_sink
from .display import make_console

__all__ = ["letter_dict", "list_dead_letters", "replay_dead_letters"]


async def list_dead_letters(url: str, *, include_resolved: bool, as_json: bool) -> int:
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        letters = await sink.dead_letters(include_resolved=include_resolved)
    finally:
        await sink.close()
    if as_json:
        rows = [letter_dict(d) for d in letters]
        sys.stdout.buffer.write(msgspec.json.encode(rows) + b"\n")
        return 0
    table = Table(title=f"{len(letters)} dead letter(s)", title_justify="left")
    for col in ("id", "run", "seen", "supplier", "kind", "error", "where", "request id", "url"):
        table.add_column(col, overflow="fold")
    for d in letters:
        table.add_row(
            str(d.id),
            d.run_id,
            f"{d.occurrences}×",  # runs that met these bytes; --json lists them
            d.supplier_id,
            d.kind.value,
            f"{d.error_kind}: {d.error_message}"[:60],
            d.error_where,
            d.request_id or "",
            d.url,
        )
    make_console().print(table)
    return 0


def letter_dict(d: DeadLetter) -> dict[str, object]:
    """A dead letter as ``dead-letters --json`` and ``trace --json`` print it."""
    return {
        "id": d.id,
        "run_id": d.run_id,
        "endpoint_key": d.endpoint_key,
        "supplier_id": d.supplier_id,
        "kind": d.kind.value,
        "format": d.format,
        "url": d.url,
        "request_id": d.request_id,
        "error_kind": d.error_kind,
        "error_where": d.error_where,
        "error_message": d.error_message,
        "size": d.size,
        "sha256": d.sha256,
        "created_at": d.created_at.isoformat(),
        "resolved_at": d.resolved_at.isoformat() if d.resolved_at else None,
        "occurrences": d.occurrences,
        "last_seen_at": d.last_seen_at.isoformat(),
        "sightings": [
            {"run_id": s.run_id, "request_id": s.request_id, "seen_at": s.seen_at.isoformat()}
            for s in d.sightings
        ],
    }


async def replay_dead_letters(url: str, ids: Sequence[int], feeds: FeedsFile | None) -> int:
    """Re-decode open dead letters with today's decoders (and the feeds file's mappings)."""
    contexts = _contexts(feeds)
    sink = open_sink(url)
    await sink.open()
    failed = 0
    try:
        letters = [d for d in await sink.dead_letters() if not ids or d.id in ids]
        for letter in letters:
            ctx = contexts.get(letter.endpoint_key) or DecodeContext(
                kind=letter.kind, supplier_id=letter.supplier_id
            )
            documents = functools.partial(_decode, letter.format, ctx)
            try:
                record = await sink.replay(letter.id, documents)
                print(f"dead letter {letter.id}: loaded {record.records} records")
            except PayloadError as exc:
                failed += 1
                print(f"dead letter {letter.id}: still undecodable: {exc}", file=sys.stderr)
    finally:
        await sink.close()
    return 1 if failed else 0


def _decode(fmt: str, ctx: DecodeContext, body: Body) -> Iterator[Document]:
    return get_decoder(fmt)(body, ctx)


def _contexts(feeds: FeedsFile | None) -> dict[str, DecodeContext]:
    if feeds is None:
        return {}
    return {p.endpoint.key: p.decode_context() for p in plan_endpoints(feeds.suppliers)}
