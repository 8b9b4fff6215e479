"""Decoding for the PostgreSQL sink, off the event loop.

A unit's decoder is iterated in worker threads, a chunk of documents at a time: decoding,
hashing and formatting the rows as COPY text (:mod:`.postgres_copy`) is CPU work that must
not stall the event loop, and that overlaps the server's work on the previous chunk (or,
with :class:`Lookahead`, on the previous unit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from .._exceptions import PayloadError
from .._models import Document, InventorySnapshot
from .base import LoadUnit
from .postgres_copy import copy_text, inventory_text
from .schema import (
    DocHasher,
    DocSpec,
    Provenance,
    Version,
    codes_text,
    doc_key_text,
    line_rows,
    rows_for,
    version_of,
)
from .semantics import delivery_of, group_documents, guarded, part_ident, provenance

__all__ = ["Chunks", "Decoder", "Ident", "Lookahead", "Piece", "Prefetched", "provenance"]

Ident: TypeAlias = tuple[str, str]  # (doc_type, doc_key) in sf_documents


@dataclass(slots=True)
class Piece:
    """One document, or one part of a streamed document, decoded into COPY text."""

    spec: DocSpec
    key: tuple[str, ...]
    ident: Ident
    version: Version
    codes: str | None  # the document's own codes (its first part's), for sf_documents
    data: dict[str, bytes]  # table -> COPY text of its rows
    rows: int  # rows in ``data``
    lines: int
    first: bool
    last: bool
    digest: str | None  # the document's content hash, on its last part
    doc: Document  # the document, or this part of it (the planner's slow paths read it)

    @property
    def whole(self) -> bool:
        return self.first and self.last


def _lines(doc: Document) -> int:
    return len(doc.items) if isinstance(doc, InventorySnapshot) else len(doc.lines)


def _copy_data(doc: Document, prov: Provenance, *, header: bool) -> tuple[dict[str, bytes], int]:
    """The rows of a document (its header too when ``header``) or of a part, as COPY text
    per table, and how many rows there are."""
    try:
        if isinstance(doc, InventorySnapshot):  # no header table; the bulk of the rows
            data = {"inventory_positions": inventory_text(doc, prov)} if doc.items else {}
            return data, len(doc.items)
        rows = rows_for(doc, prov) if header else line_rows(doc, prov)
        data = {table: copy_text(table_rows) for table, table_rows in rows.items() if table_rows}
    except (ArithmeticError, TypeError, ValueError) as exc:
        # A decoder yielded a value no text takes (a lone surrogate, a str() that fails).
        raise PayloadError(f"unstorable value: {exc!r}", kind="decoder_bug") from exc
    return data, sum(map(len, rows.values()))


def _pieces(unit: LoadUnit) -> Generator[Piece, None, None]:
    """The unit's documents as pieces, hashed and turned into COPY text with the unit's
    provenance. A streamed document yields one piece per part and is never held whole."""
    prov: Provenance = provenance(unit)
    delivery = delivery_of(unit)
    for spec, key, parts in group_documents(guarded(unit.documents)):
        first = next(parts)
        if isinstance(first, InventorySnapshot):  # one source's part, from one page
            ident = part_ident(key, delivery)
        else:
            ident = (spec.kind.value, doc_key_text(key))
        version, codes = version_of(first), codes_text(first.codes)
        hasher = DocHasher(first)
        part, is_first = first, True
        data, rows = _copy_data(first, prov, header=True)
        for following in parts:
            hasher.add(part)
            yield Piece(
                *(spec, key, ident, version, codes, data, rows, _lines(part)),
                *(is_first, False, None, part),
            )
            part, is_first = following, False
            data, rows = _copy_data(following, prov, header=False)
        hasher.add(part)
        digest = hasher.hexdigest()
        yield Piece(
            *(spec, key, ident, version, codes, data, rows, _lines(part)),
            *(is_first, True, digest, part),
        )


def _take(pieces: Iterator[Piece], max_rows: int) -> tuple[list[Piece], bool]:
    """The next pieces, about ``max_rows`` rows' worth, and whether they are the last.
    Runs in a thread."""
    out: list[Piece] = []
    rows = 0
    for piece in pieces:
        out.append(piece)
        rows += piece.rows or 1
        if rows >= max_rows:
            return out, False
    return out, True


class Chunks(Protocol):
    """Where a writer gets a unit's pieces, a chunk at a time."""

    async def next(self) -> list[Piece]:
        """The next chunk; empty once there is none."""

    def close(self) -> None:
        """Release the decoder (idempotent)."""


class Decoder:
    """Runs a unit's decoder in worker threads, one chunk ahead of the writer: the first
    chunk starts decoding as soon as the decoder is made. ``exhausted`` turns true with
    the chunk that holds the last piece.

    Only one thread advances the generator at a time, and it is closed only once no
    thread runs it: a cancelled load lets the thread finish its chunk first (hence the
    shield), then closes the generator, which closes the decoder's files."""

    def __init__(self, unit: LoadUnit, chunk_rows: int) -> None:
        self._gen = _pieces(unit)
        self._chunk = chunk_rows
        self._closed = False
        self.exhausted = False
        self._ahead: asyncio.Future[tuple[list[Piece], bool]] | None = self._start()

    def _start(self) -> asyncio.Future[tuple[list[Piece], bool]]:
        return asyncio.ensure_future(asyncio.to_thread(_take, self._gen, self._chunk))

    async def next(self) -> list[Piece]:
        if self._ahead is None:
            return []
        chunk, self.exhausted = await asyncio.shield(self._ahead)
        self._ahead = None if self.exhausted else self._start()
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            self._gen.close()
        else:
            ahead.add_done_callback(self._close_after)

    def _close_after(self, ahead: asyncio.Future[tuple[list[Piece], bool]]) -> None:
        if not ahead.cancelled():
            ahead.exception()  # an error in a chunk nobody will read is moot: retrieve it
        self._gen.close()


class Prefetched:
    """A chunk already taken, then the rest of its decoder (or nothing)."""

    def __init__(self, chunk: list[Piece], rest: Decoder | None) -> None:
        self._chunk: list[Piece] | None = chunk
        self._rest = rest

    async def next(self) -> list[Piece]:
        if self._chunk is not None:
            chunk, self._chunk = self._chunk, None
            return chunk
        return [] if self._rest is None else await self._rest.next()

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()


class Lookahead:
    """The units of a batch with their decoders, the next unit's started while the
    current one is written."""

    def __init__(self, units: Sequence[LoadUnit], chunk_rows: int) -> None:
        self._units = iter(enumerate(units))
        self._chunk = chunk_rows
        self._next = self._make()

    def _make(self) -> tuple[int, LoadUnit, Decoder] | None:
        found = next(self._units, None)
        if found is None:
            return None
        index, unit = found
        return index, unit, Decoder(unit, self._chunk)

    def __iter__(self) -> Iterator[tuple[int, LoadUnit, Decoder]]:
        while self._next is not None:
            current, self._next = self._next, self._make()
            yield current

    def close(self) -> None:
        """Close the decoder started ahead, if the batch stopped before its unit."""
        if self._next is not None:
            self._next[2].close()
            self._next = None
