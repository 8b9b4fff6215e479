"""EDIFACT envelopes: UNB..UNZ interchanges, optional UNG..UNE groups, UNH..UNT messages.

Checks (ISO 9735):

- UNT01 is the number of segments of the message, UNH and UNT included; UNT02 repeats
  UNH01 (the message reference).
- UNE01 is the number of messages in the group; UNE02 repeats UNG05.
- UNZ01 is the number of messages, or the number of groups when the interchange uses
  UNG; UNZ02 repeats UNB05 (the interchange control reference).
- Every message sits between UNH and UNT; nothing but UNG/UNE/UNH sits between UNB and
  UNZ. A body may hold several interchanges one after another.

What a failed check does is ``ctx.envelope_policy``: ``"strict"`` raises
:class:`~supplyfeed.PayloadError` with ``kind="envelope"``, ``"warn"`` records the finding
with ``ctx.warn`` and carries on with what can be read. Every finding names the segment
and its position, e.g. ``segment 14 (UNT)``.

Messages are handed out as they are read: :class:`Message.body` is an iterator over the
segments between UNH and UNT, so a large message is never held whole. The UNT checks
run when the body is exhausted; :func:`messages` drains a body the caller left unread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..._exceptions import PayloadError
from ..base import DecodeContext
from .tokenizer import Segment

__all__ = ["Interchange", "Message", "messages"]

_SERVICE_TAGS = frozenset({"UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})


@dataclass(frozen=True, slots=True)
class Interchange:
    """The UNB header: syntax identifier, parties and the control reference (UNB05)."""

    syntax_id: str
    sender: str
    recipient: str
    reference: str

    @classmethod
    def from_unb(cls, unb: Segment | None) -> Interchange:
        if unb is None:
            return cls("", "", "", "")
        return cls(unb.value(1), unb.value(2), unb.value(3), unb.value(5))


@dataclass(slots=True)
class Message:
    """One UNH..UNT message; ``body`` yields the segments between them, lazily."""

    reference: str
    type: str
    version: str
    header: Segment
    interchange: Interchange
    body: Iterator[Segment]


class _Policy:
    def __init__(self, ctx: DecodeContext) -> None:
        self._ctx = ctx

    def fail(self, message: str, segment: Segment | None) -> None:
        where = segment.where if segment is not None else "end of payload"
        if self._ctx.envelope_policy == "strict":
            raise PayloadError(message, where=where, kind="envelope")
        self._ctx.warn(f"{message} (at {where})")

    def check_count(self, segment: Segment, expected: int, what: str) -> None:
        text = segment.value(1)
        if text.strip() != str(expected):
            self.fail(f"{segment.tag}01 says {text!r} {what}, counted {expected}", segment)

    def check_reference(self, segment: Segment, expected: str, opener: str) -> None:
        text = segment.value(2)
        if text != expected:
            self.fail(f"{segment.tag}02 {text!r} does not match {opener} {expected!r}", segment)


class _Cursor:
    """A segment iterator with one segment of push-back."""

    def __init__(self, segments: Iterable[Segment]) -> None:
        self._it = iter(segments)
        self._back: Segment | None = None
        self.last: Segment | None = None

    def next(self) -> Segment | None:
        back = self._back
        if back is not None:
            self._back = None
            return back
        segment = next(self._it, None)
        if segment is not None:
            self.last = segment
        return segment

    def push_back(self, segment: Segment) -> None:
        self._back = segment


def messages(segments: Iterable[Segment], ctx: DecodeContext) -> Iterator[Message]:
    """The messages of every interchange in ``segments``, with the envelope checked."""
    policy = _Policy(ctx)
    cursor = _Cursor(segments)
    first = cursor.next()
    if first is None:
        raise PayloadError("no EDIFACT segments in the payload", where="byte 0", kind="envelope")
    cursor.push_back(first)
    while (segment := cursor.next()) is not None:
        if segment.tag == "UNB":
            yield from _interchange(segment, cursor, policy)
            continue
        policy.fail(f"expected UNB, found {segment.tag}", segment)
        # Under "warn": read what follows as an interchange without a header.
        cursor.push_back(segment)
        yield from _interchange(None, cursor, policy)


def _interchange(unb: Segment | None, cursor: _Cursor, policy: _Policy) -> Iterator[Message]:
    interchange = Interchange.from_unb(unb)
    n_messages = n_groups = 0
    group: _Group | None = None
    while (segment := cursor.next()) is not None:
        tag = segment.tag
        if tag == "UNH":
            yield from _one_message(segment, cursor, policy, interchange)
            n_messages += 1
            if group is not None:
                group.count += 1
        elif tag == "UNG":
            if group is not None:
                policy.fail("UNG inside an open group (missing UNE)", segment)
            group = _Group(segment)
            n_groups += 1
        elif tag == "UNE":
            _close_group(group, segment, policy)
            group = None
        elif tag == "UNZ":
            if group is not None:
                policy.fail("UNZ before the UNE closing the group", segment)
            policy.check_count(segment, n_groups or n_messages, "messages or groups")
            policy.check_reference(segment, interchange.reference, "UNB05")
            return
        elif tag == "UNB":
            policy.fail("UNB before the UNZ closing the previous interchange", segment)
            cursor.push_back(segment)
            return
        else:
            policy.fail(f"segment {tag} outside a UNH..UNT message", segment)
    policy.fail("interchange not closed by UNZ", cursor.last)


class _Group:
    __slots__ = ("count", "ung")

    def __init__(self, ung: Segment) -> None:
        self.ung = ung
        self.count = 0


def _close_group(group: _Group | None, une: Segment, policy: _Policy) -> None:
    if group is None:
        policy.fail("UNE without UNG", une)
        return
    policy.check_count(une, group.count, "messages")
    policy.check_reference(une, group.ung.value(5), "UNG05")


def _one_message(
    unh: Segment, cursor: _Cursor, policy: _Policy, interchange: Interchange
) -> Iterator[Message]:
    body = _body(unh, cursor, policy)
    message = Message(
        reference=unh.value(1),
        type=unh.value(2, 1).upper(),
        version=f"{unh.value(2, 2)}:{unh.value(2, 3)}",
        header=unh,
        interchange=interchange,
        body=body,
    )
    yield message
    for _ in body:  # the caller may have stopped early: still check UNT
        pass


def _body(unh: Segment, cursor: _Cursor, policy: _Policy) -> Iterator[Segment]:
    count = 1
    while (segment := cursor.next()) is not None:
        count += 1
        if segment.tag == "UNT":
            policy.check_count(segment, count, "segments")
            policy.check_reference(segment, unh.value(1), "UNH01")
            return
        if segment.tag in _SERVICE_TAGS:
            policy.fail(f"{segment.tag} before the UNT closing message {unh.value(1)!r}", segment)
            cursor.push_back(segment)
            return
        yield segment
    policy.fail(f"message {unh.value(1)!r} not closed by UNT", cursor.last)
