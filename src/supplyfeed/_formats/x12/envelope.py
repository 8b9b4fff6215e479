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
SE, so that a large 846 can be mapped while it is read. Because of that, a violation found
at SE is raised after the transaction's documents were yielded: a caller that gets a
``PayloadError`` must treat the whole payload as failed (the pipeline quarantines it).
Every error names the segment and its 1-based position, ISA being segment 1.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator

from ..._exceptions import PayloadError
from ..base import DecodeContext
from .tokenizer import Segment

__all__ = ["Transaction", "read_transactions"]

_OUTER = frozenset({"ST", "GS", "GE", "ISA", "IEA"})
_Numbered = Iterator[tuple[int, Segment]]


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


class Transaction:
    """One ST..SE transaction set; ``segments()`` yields the segments between ST and SE."""

    __slots__ = (
        "_ctx",
        "_gen",
        "_it",
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
        it: _Numbered,
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
        self._it = it
        self._ctx = ctx
        self._gen = self._body()

    def segments(self) -> Iterator[Segment]:
        return self._gen

    def where(self, seg: Segment) -> str:
        """Where the segment last handed out is (mappers name it in their errors)."""
        return where(self.pos, seg)

    def drain(self) -> None:
        for _ in self._gen:
            pass

    def _body(self) -> Iterator[Segment]:
        count = 1
        for pos, seg in self._it:
            self.pos = pos
            count += 1
            tag = seg[0]
            if tag == "SE":
                self._close(seg, count, pos)
                return
            if tag in _OUTER:
                raise PayloadError(
                    f"transaction set {self.control} (segment {self.position}) has no SE "
                    f"before {tag}",
                    where=where(pos, seg),
                    kind="envelope",
                )
            yield seg
        raise PayloadError(
            f"transaction set {self.control} has no SE: the payload ends inside it",
            where=f"segment {self.pos + 1} (end of payload)",
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


def read_transactions(segments: Iterable[Segment], ctx: DecodeContext) -> Iterator[Transaction]:
    """Every transaction set of the payload, checking the envelope around it."""
    it: _Numbered = iter(enumerate(segments, 1))
    for pos, seg in it:
        if seg[0] != "ISA":
            raise PayloadError(f"expected ISA, found {seg[0][:3]!r}", where=where(pos, seg))
        if (yield from _interchange(it, pos, seg, ctx)):
            return


def _interchange(
    it: _Numbered, isa_pos: int, isa: Segment, ctx: DecodeContext
) -> Generator[Transaction, None, bool]:
    """Yields the interchange's transactions; returns True when the payload ended early."""
    groups = 0
    for pos, seg in it:
        tag = seg[0]
        if tag == "GS":
            groups += 1
            if (yield from _group(it, pos, seg, isa, ctx)):
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
    it: _Numbered, gs_pos: int, gs: Segment, isa: Segment, ctx: DecodeContext
) -> Generator[Transaction, None, bool]:
    """Yields the group's transactions; returns True when the payload ended early."""
    count = 0
    for pos, seg in it:
        tag = seg[0]
        if tag == "ST":
            count += 1
            txn = Transaction(it, seg, pos, gs, isa, ctx)
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
