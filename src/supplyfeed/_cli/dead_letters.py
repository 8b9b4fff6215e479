"""``supplyfeed dead-letters`` (one line a letter), ``dead-letters show ID`` (one letter
in full, or ``--raw``: its bytes) and ``supplyfeed replay``."""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Iterator, Sequence

import msgspec

from .._exceptions import ConfigError, PayloadError
from .._feedsfile import FeedsFile
from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.registry import get_decoder
from .._models import Document
from .._run.plan import plan_endpoints
from .._sink.base import DeadLetter
from .._sink.factory import open_sink
from .._telemetry.text_columns import fit_lines
from .pipes import copy_to_stdout

__all__ = ["letter_dict", "list_dead_letters", "replay_dead_letters", "show_dead_letter"]

_KIND = {"inventory_snapshot": "inv", "po_ack": "ack", "ship_notice": "asn"}


async def _letters(url: str, *, include_resolved: bool) -> list[DeadLetter]:
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        return await sink.dead_letters(include_resolved=include_resolved)
    finally:
        await sink.close()


async def list_dead_letters(url: str, *, include_resolved: bool, as_json: bool) -> int:
    letters = await _letters(url, include_resolved=include_resolved)
    if as_json:
        rows = [letter_dict(d) for d in letters]
        sys.stdout.buffer.write(msgspec.json.encode(rows) + b"\n")
        return 0
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    print("\n".join(compact_lines(letters, width)))
    return 0


def compact_lines(letters: Sequence[DeadLetter], width: int | None) -> list[str]:
    """One line a letter (``text_columns.fit_lines``): the request id (for ``trace``) is
    never cut; on a narrow window the URL, then the error, are. ``show ID`` prints a
    letter in full."""
    rows = [
        (
            str(d.id),
            f"{d.occurrences}×",  # runs that met these bytes
            d.supplier_id,
            _KIND.get(d.kind.value, d.kind.value),
            d.error_kind + (f" at {d.error_where}" if d.error_where else ""),
            d.request_id or "-",
            d.url,
        )
        for d in letters
    ]
    head = ("id", "seen", "supplier", "kind", "error", "request id", "url")
    title = f"{len(letters)} dead letter(s); `supplyfeed dead-letters show ID` for one in full"
    return [title, *fit_lines(head, rows, width, flexible=(6, 4, 2), right=(0, 1))]


async def show_dead_letter(url: str, letter_id: int, *, output: str) -> int:
    """One letter (open or resolved): ``text`` every field, ``json`` as ``--json`` lists
    it, ``raw`` its payload bytes on stdout as stored. Exit 1 when there is no such id."""
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        found = [d for d in await sink.dead_letters(include_resolved=True) if d.id == letter_id]
        if not found:
            print(f"error: no dead letter {letter_id} in {url}", file=sys.stderr)
            return 1
        [letter] = found
        if output == "raw":  # while the sink is open: a spooled body is a file beside it
            _write_raw(letter)
        elif output == "json":
            sys.stdout.buffer.write(msgspec.json.encode(letter_dict(letter)) + b"\n")
        else:
            print("\n".join(letter_lines(letter)))
    finally:
        await sink.close()
    return 0


def _write_raw(letter: DeadLetter) -> None:
    with letter.body.open() as body:
        copy_to_stdout(body)


def letter_lines(d: DeadLetter) -> list[str]:
    """Every field of one letter, one a line: nothing cut, nothing wrapped mid-value."""
    state = "open" if d.resolved_at is None else f"resolved {d.resolved_at.isoformat()}"
    lines = [
        f"dead letter {d.id} ({state})",
        f"  run          {d.run_id}",
        f"  request id   {d.request_id or '-'}",
        f"  supplier     {d.supplier_id}",
        f"  kind         {d.kind.value}",
        f"  format       {d.format}" + (" (with the feed's field mapping)" if d.mapping else ""),
        f"  url          {d.url}",
        f"  error        {d.error_kind}" + (f" at {d.error_where}" if d.error_where else ""),
        f"  message      {d.error_message}",
        f"  size         {d.size:,} bytes, sha256 {d.sha256}",
        f"  created      {d.created_at.isoformat()}",
        f"  seen         {d.occurrences} time(s), last {d.last_seen_at.isoformat()}",
    ]
    lines += [
        f"    again in run {s.run_id} request {s.request_id or '-'} at {s.seen_at.isoformat()}"
        for s in d.sightings
    ]
    lines.append(f"  bytes        `supplyfeed dead-letters show {d.id} --raw`")
    return lines


def letter_dict(d: DeadLetter) -> dict[str, object]:
    """A dead letter as ``dead-letters --json`` and ``trace --json`` print it."""
    return {
        "id": d.id,
        "run_id": d.run_id,
        "endpoint_key": d.endpoint_key,
        "supplier_id": d.supplier_id,
        "kind": d.kind.value,
        "format": d.format,
        "mapping": None if d.mapping is None else msgspec.to_builtins(d.mapping),
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
    """Re-decode open dead letters with today's decoders: with the feeds file's mapping
    when ``--feeds`` names the feed (a mapping fixed since), else the one stored with the
    letter. An id that names no letter is an error (exit 2) before anything is replayed;
    an already resolved one is said and skipped."""
    contexts = _contexts(feeds)
    sink = open_sink(url)
    await sink.open()
    failed = 0
    try:
        every = await sink.dead_letters(include_resolved=True)
        unknown = sorted(set(ids) - {d.id for d in every})
        if unknown:
            names = ", ".join(map(str, unknown))
            raise ConfigError(f"no dead letter {names} in {url} (`supplyfeed dead-letters --all`)")
        letters = [d for d in every if not ids or d.id in ids]
        for letter in letters:
            if letter.resolved_at is not None:
                if ids:  # named: say why nothing happens; unnamed resolved ones are not asked
                    print(f"dead letter {letter.id}: already resolved", file=sys.stderr)
                continue
            ctx = contexts.get(letter.endpoint_key) or DecodeContext(
                kind=letter.kind, supplier_id=letter.supplier_id, mapping=letter.mapping
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
