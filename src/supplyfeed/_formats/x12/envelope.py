"""The X12 envelope: ISA/IEA around GS/GE groups around ST/SE transaction sets.

Several interchanges may follow one another, an interchange may hold several groups and a
group several transaction sets. Checked, each against its header:

- SE01 = number of segments from ST to SE inclusive, SE02 = ST02;
- GE01 = number of ST in the group, GE02 = GS06;
- IEA01 = number of GS in the interchange, IEA02 = ISA13.

A mismatch, or a missing GE/IEA at the end of the payload, is an *envelope violation*:
under ``ctx.envelope_policy == "strict"`` it raises ``PayloadError(kind="envelope")``;
under ``"warn"`` it is recorded with ``ctx.warn`` and decoding goes on. A transaction set
without its SE, or segments out of their nesting, are always errors: the content itself
cannot be trusted then.

Transactions are handed out lazily, with a body iterator over the segments between ST and
SE, so that a large 846 can be mapped while it is read. The tokenizer hands over the
segments a chunk at a time, and so does ``Transaction.chunks()``: a mapper's hot loop then
runs over a list in one frame, and the envelope looks at a chunk's tags once (a set test
over the chunk) instead of at every segment through a chain of generators, which had cost
more than the mapping. A chunk still unsplit (a ``TextChunk``) that cannot hold an
envelope segment is handed on whole and unsplit: its mapper may read it as text. Because
of that, a violation found
at SE is raised after the transaction's documents were yielded: a caller that gets a
``PayloadError`` must treat the whole payload as failed (the pipeline quarantines it).
Every error names the segment and its 1-based position, ISA being segment 1.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from operator import itemgetter

from ..._exceptions import PayloadError
from ..base import DecodeContext
from .tokenizer import Chunk, Segment, TextChunk, segments_of

__all__ = ["Transaction", "read_transactions"]

_OUTER = frozenset({"ST", "SE", "GS", "GE", "ISA", "IEA"})
_tag = itemgetter(0)


def where(pos: int, seg: Segment) -> str:
    """The standard ``where`` of a PayloadError: ``segment 14 (SE)``."""
    return f"segment {pos} ({seg[0][:3]})"


def _violation(ctx: DecodeContext, message: str, at: str) -> None:
    if ctx.envelope_policy == "strict":
        raise PayloadError(message, where=at, kind="envelope")
    ctx.warn(f"{message} (at {at})")


def _same_number(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a.isdigit() and b.isdigit():
        return int(a) == int(b)
    return a == b


def _element(seg: Segment, i: int) -> str:
    return seg[i].strip() if i < len(seg) else ""


class _Cursor:
    """The payload's segments: one at a time for the envelope, a run at a time for bodies.

    ``pos`` is the 1-based position of the last segment taken. Each chunk's envelope
    segments (ST, SE, GS, GE, ISA, IEA) are located once, when the chunk is loaded, so
    that a transaction body is cut out of a chunk with a slice, or is the whole chunk,
    which then stays as the tokenizer gave it (maybe unsplit).
    """

    __slots__ = ("_chunk", "_chunks", "_i", "_o", "_outer", "_segments", "base", "pos")

    def __init__(self, chunks: Iterable[Chunk]) -> None:
        self._chunks = iter(chunks)
        self._chunk: Chunk = []
        self._segments: list[Segment] | None = []  # the chunk's segments, once split
        self._outer: list[int] = []  # indexes of envelope segments in the chunk, ascending
        self._o = 0  # the first of them not yet passed
        self._i = 0
        self.base = 0  # position of the chunk's first segment, minus one
        self.pos = 0

    def _load(self) -> bool:
        """Move to the next non-empty chunk; False at the end of the payload."""
        self.base += len(self._chunk)
        for chunk in self._chunks:
            if chunk:
                self._chunk, self._i, self._o, self._outer = chunk, 0, 0, []
                if isinstance(chunk, TextChunk) and not chunk.may_hold(_OUTER):
                    self._segments = None  # no envelope segment: it may stay unsplit
                    return True
                segments = self._segments = segments_of(chunk)
                # Most chunks of a large payload hold no envelope segment at all: a set
                # test over the tags costs a fraction of a per-segment Python loop.
                if not _OUTER.isdisjoint(map(_tag, segments)):
                    self._outer = [i for i, seg in enumerate(segments) if seg[0] in _OUTER]
                return True
            # an empty list has no segments: nothing to count
        self._chunk, self._segments, self._i, self._outer = [], [], 0, []
        return False

    def _split(self) -> list[Segment]:
        if self._segments is None:
            self._segments = segments_of(self._chunk)
        return self._segments

    def next(self) -> Segment | None:
        """The next segment, or None at the end of the payload."""
        if self._i >= len(self._chunk) and not self._load():
            return None
        seg = self._split()[self._i]
        self._i += 1
        self.pos = self.base + self._i
        return seg

    def run(self) -> Chunk | None:
        """The segments from here up to the next envelope segment (or the chunk's end).

        Returns an empty list when the next segment is an envelope segment, None at the
        end of the payload; the chunk itself (as the tokenizer gave it) when it is all
        of the run.
        """
        if self._i >= len(self._chunk) and not self._load():
            return None
        chunk, i, outer = self._chunk, self._i, self._outer
        o = self._o
        while o < len(outer) and outer[o] < i:
            o += 1
        self._o = o
        stop = outer[o] if o < len(outer) else len(chunk)
        if stop == i:
            return []
        self._i = stop
        self.pos = self.base + stop
        return chunk if i == 0 and stop == len(chunk) else self._split()[i:stop]


class Transaction:
    """One ST..SE transaction set.

    ``chunks()`` yields the segments between ST and SE a chunk at a time, as lists or
    as unsplit ``TextChunk`` (the fast way to read a large set); ``segments()`` yields
    them one by one. Use one of the two, once.
    """

    __slots__ = (
        "_chunk",
        "_ctx",
        "_cursor",
        "_gen",
        "chunk_pos",
        "component",
        "control",
        "group",
        "interchange",
        "pos",
        "position",
        "set_id",
    )

    def __init__(
        self,
        cursor: _Cursor,
        st: Segment,
        position: int,
        group: Segment,
        isa: Segment,
        ctx: DecodeContext,
    ) -> None:
        # ISA16 is the component separator, as the tokenizer read it
        self.component = isa[16][:1] if len(isa) > 16 and isa[16] else ":"
        self.set_id = _element(st, 1)
        self.control = _element(st, 2)
        self.position = position
        self.pos = position  # position of the segment last handed out
        self.group = group
        self.interchange = isa
        self._cursor = cursor
        self._ctx = ctx
        self._chunk: Chunk = []  # the chunk last handed out by chunks()
        self.chunk_pos = 0  # position of its first segment
        self._gen = self._body()

    def chunks(self) -> Iterator[Chunk]:
        """The body as chunks of consecutive segments (none empty); checks SE at the end."""
        return self._gen

    def segments(self) -> Iterator[Segment]:
        return self._one_by_one()

    def _one_by_one(self) -> Iterator[Segment]:
        for chunk in self._gen:
            self._chunk = []  # where() then names the segment last handed out, as before
            pos = self.chunk_pos
            for seg in segments_of(chunk):
                self.pos = pos
                pos += 1
                yield seg

    def where(self, seg: Segment) -> str:
        """Where ``seg`` is: a segment of the chunk last handed out by ``chunks()`` (or
        given to :meth:`focus`), else the segment last handed out by ``segments()``
        (mappers name it in their errors)."""
        return where(self.position_of(seg), seg)

    def position_of(self, seg: Segment) -> int:
        """The position of ``seg`` (see :meth:`where`); looked up only on the error path."""
        for i, candidate in enumerate(segments_of(self._chunk)):
            if candidate is seg:
                return self.chunk_pos + i
        return self.pos

    def focus(self, segments: list[Segment], pos: int) -> None:
        """A mapper that split part of a chunk itself names those ``segments``, the first
        at position ``pos``, as the ones its errors are about (see :meth:`where`)."""
        self._chunk, self.chunk_pos = segments, pos

    def drain(self) -> None:
        for _ in self._gen:
            pass

    def _body(self) -> Iterator[Chunk]:
        cursor, count = self._cursor, 1
        while True:
            run = cursor.run()
            if run is None:
                raise PayloadError(
                    f"transaction set {self.control} has no SE: the payload ends inside it",
                    where=f"segment {cursor.pos + 1} (end of payload)",
                    kind="envelope",
                )
            if run:
                count += len(run)
                self._chunk, self.chunk_pos = run, cursor.pos - len(run) + 1
                self.pos = cursor.pos
                yield run
                continue
            seg = cursor.next()
            assert seg is not None  # run() returned [] because an envelope segment is next
            pos = self.pos = cursor.pos
            count += 1
            if seg[0] == "SE":
                self._close(seg, count, pos)
                return
            raise PayloadError(
                f"transaction set {self.control} (segment {self.position}) has no SE "
                f"before {seg[0]}",
                where=where(pos, seg),
                kind="envelope",
            )

    def _close(self, se: Segment, count: int, pos: int) -> None:
        at = where(pos, se)
        declared = _element(se, 1)
        if not declared.isdigit() or int(declared) != count:
            _violation(
                self._ctx,
                f"SE01 says {declared!r} segments, the transaction set has {count}",
                at,
            )
        if not _same_number(_element(se, 2), self.control):
            _violation(
                self._ctx, f"SE02 {_element(se, 2)!r} does not match ST02 {self.control!r}", at
            )


def read_transactions(chunks: Iterable[Chunk], ctx: DecodeContext) -> Iterator[Transaction]:
    """Every transaction set of the payload (given as chunks of segments), checking the
    envelope around it."""
    cursor = _Cursor(chunks)
    while (seg := cursor.next()) is not None:
        if seg[0] != "ISA":
            raise PayloadError(f"expected ISA, found {seg[0][:3]!r}", where=where(cursor.pos, seg))
        if (yield from _interchange(cursor, cursor.pos, seg, ctx)):
            return


def _interchange(
    cursor: _Cursor, isa_pos: int, isa: Segment, ctx: DecodeContext
) -> Generator[Transaction, None, bool]:
    """Yields the interchange's transactions; returns True when the payload ended early."""
    groups = 0
    while (seg := cursor.next()) is not None:
        tag, pos = seg[0], cursor.pos
        if tag == "GS":
            groups += 1
            if (yield from _group(cursor, pos, seg, isa, ctx)):
                break
        elif tag == "IEA":
            _close_interchange(isa, seg, groups, where(pos, seg), ctx)
            return False
        else:
            raise PayloadError(f"expected GS or IEA, found {tag[:3]!r}", where=where(pos, seg))
    _violation(ctx, f"interchange {_element(isa, 13)} has no IEA", f"segment {isa_pos} (ISA)")
    return True


def _close_interchange(
    isa: Segment, iea: Segment, groups: int, at: str, ctx: DecodeContext
) -> None:
    if not _same_number(_element(iea, 1), str(groups)):
        _violation(ctx, f"IEA01 says {_element(iea, 1)!r} groups, the interchange has {groups}", at)
    if not _same_number(_element(iea, 2), _element(isa, 13)):
        _violation(
            ctx, f"IEA02 {_element(iea, 2)!r} does not match ISA13 {_element(isa, 13)!r}", at
        )


def _group(
    cursor: _Cursor, gs_pos: int, gs: Segment, isa: Segment, ctx: DecodeContext
) -> Generator[Transaction, None, bool]:
    """Yields the group's transactions; returns True when the payload ended early."""
    count = 0
    while (seg := cursor.next()) is not None:
        tag, pos = seg[0], cursor.pos
        if tag == "ST":
            count += 1
            txn = Transaction(cursor, seg, pos, gs, isa, ctx)
            yield txn
            txn.drain()
        elif tag == "GE":
            at = where(pos, seg)
            if not _same_number(_element(seg, 1), str(count)):
                _violation(ctx, f"GE01 says {_element(seg, 1)!r} sets, the group has {count}", at)
            if not _same_number(_element(seg, 2), _element(gs, 6)):
                _violation(
                    ctx, f"GE02 {_element(seg, 2)!r} does not match GS06 {_element(gs, 6)!r}", at
                )
            return False
        else:
            raise PayloadError(f"expected ST or GE, found {tag[:3]!r}", where=where(pos, seg))
    _violation(ctx, f"group {_element(gs, 6)} has no GE", f"segment {gs_pos} (GS)")
    return True
