"""X12 bytes → segments, with the delimiters read from the ISA segment.

Delimiters are found by *counting* element separators, never by fixed offsets, because
short (unpadded) ISA segments exist in the wild:

- the element separator is the character right after ``ISA``;
- ISA16 (the component separator) is the character after the 16th element separator;
- the segment terminator is the character right after ISA16. When that byte opens a
  valid UTF-8 sequence the whole sequence is the terminator: a cp1252 NEL (0x85) that was
  transcoded to UTF-8 on the way arrives as the 3 bytes of "…";
- ISA11 is the repetition separator only when ISA12 >= 00402; before that version ISA11 is
  a standards identifier (``U``) and data such as ``999999-001`` must not be split.
  Elements are never split on the repetition separator here: none of the elements the
  mappers read is repeatable, and splitting ``REF*BM*999999-001`` is a known bug of
  stricter parsers.

Bytes are decoded as latin-1, so every byte maps to one character and no input can raise
a decoding error; mappers re-decode the few non-ASCII values they keep (see ``values``).

Noise tolerated: a UTF-8 BOM, whitespace and CR/LF after terminators and before segments
(pretty-printed files), a missing final terminator. A line break *inside* a segment is a
syntax error: it means the sender ended segments with some other character, which would
otherwise silently merge segments.

Speed: splitting is done with ``str.split`` over the whole text (or over large chunks when
streaming), which tokenizes well over a million segments a second. The decoder goes
further and takes chunks as :class:`TextChunk`: the clean text of a chunk (bare
terminators between segments), split into segments only when someone asks for them.
Most chunks of a large payload never need to be: the envelope checks them with one
regular-expression search and the 846 mapper reads its common items straight from the
text, so that the lists of a million segments are never made.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import BinaryIO, TypeAlias

from ..._exceptions import PayloadError

__all__ = [
    "Chunk",
    "Segment",
    "TextChunk",
    "Tokenizer",
    "X12Delimiters",
    "iter_pieces",
    "iter_text_pieces",
    "read_delimiters",
    "segments_of",
    "tokenize",
]

Segment: TypeAlias = list[str]

_BOM = "\xef\xbb\xbf"  # the UTF-8 BOM, as latin-1 characters
_LEADING = _BOM + " \t\r\n\x0b\x0c\x00"
_NOISE = " \t\r\n\x0b\x0c"
_MAX_ISA = 512  # a padded ISA is 106 characters; past this we are not reading an ISA
_MAX_SEGMENT = 1 << 20  # streaming: a segment longer than this means a missing terminator
_CHUNK = 1 << 16  # bytes read from a stream at a time
# Characters per chunk of ``Tokenizer.pieces``: most of these chunks are never split into
# lists, and fewer, larger ones cost less per chunk (measured on a 200k-item 846: 16 KB
# 6% faster than 8 KB, 32 KB no better than 16 KB).
_PIECE = 1 << 14


@dataclass(frozen=True, slots=True)
class X12Delimiters:
    """The separators of one interchange. ``segment`` may be several characters."""

    element: str = "*"
    component: str = ":"
    segment: str = "~"
    repetition: str | None = None


def read_delimiters(text: str) -> tuple[X12Delimiters, int]:
    """Delimiters of the ISA at the start of ``text``, and where the text starts.

    ``text`` is latin-1 text; a BOM and leading whitespace are skipped.
    """
    start = len(text) - len(text.lstrip(_LEADING))
    if not text.startswith("ISA", start):
        raise PayloadError("payload does not start with an ISA segment", where="segment 1")
    if len(text) < start + 4:
        raise PayloadError("ISA segment is incomplete", where="segment 1 (ISA)")
    element = text[start + 3]
    if element.isalnum() or element in _NOISE:
        raise PayloadError(
            f"invalid element separator {element!r} after ISA", where="segment 1 (ISA)"
        )
    pos = start + 3
    for _ in range(15):
        pos = text.find(element, pos + 1, start + _MAX_ISA)
        if pos < 0:
            raise PayloadError("ISA segment has fewer than 16 elements", where="segment 1 (ISA)")
    if len(text) < pos + 3:
        raise PayloadError("no segment terminator after ISA16", where="segment 1 (ISA)")
    component = text[pos + 1]
    segment = _terminator(text, pos + 2)
    isa = text[start : pos + 2].split(element)
    delimiters = X12Delimiters(element, component, segment, _repetition(isa))
    _check_distinct(delimiters)
    return delimiters, start


def _terminator(text: str, at: int) -> str:
    """The terminator at ``at``: one character, or a whole multi-byte UTF-8 sequence."""
    lead = ord(text[at])
    extra = 1 if 0xC2 <= lead <= 0xDF else 2 if 0xE0 <= lead <= 0xEF else 3 if lead <= 0xF4 else 0
    if lead < 0xC2 or extra == 0:
        return text[at]
    candidate = text[at : at + 1 + extra]
    try:
        candidate.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return text[at]
    return candidate if len(candidate) == 1 + extra else text[at]


def _repetition(isa: list[str]) -> str | None:
    version = isa[12].strip() if len(isa) > 12 else ""
    if not (version.isdigit() and int(version) >= 402):
        return None
    value = isa[11]
    if len(value) != 1 or value.isalnum() or value in _NOISE:
        return None  # a blank or alphanumeric ISA11 is no separator, whatever ISA12 says
    return value


def _check_distinct(d: X12Delimiters) -> None:
    chars = [d.element, d.component, *d.segment]
    if d.component.isalnum() or len(set(chars)) != len(chars) or d.segment.isalnum():
        raise PayloadError(
            f"ambiguous delimiters: element {d.element!r}, component {d.component!r}, "
            f"segment {d.segment!r}",
            where="segment 1 (ISA)",
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic GC paused while segments are split.

    The segments are a burst of small lists that are all alive at once, and
    young-generation collections over them would cost more than the splitting itself
    (measured: 2x on a million segments).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _split_bare(text: str, terminator: str, element: str) -> list[Segment]:
    """The segments of clean text (see :meth:`Tokenizer.piece`): bare terminators only."""
    pieces = text.split(terminator)
    if pieces and not pieces[-1]:
        pieces.pop()
    return [p.split(element) for p in pieces]


class TextChunk:
    """The segments of a piece of clean text, split on first use (:meth:`segments`).

    ``text`` holds segments separated by bare terminators (no noise, no empty segment but
    maybe a first one), exactly as :meth:`Tokenizer.split` would split it; ``len()`` is
    the number of segments, known without splitting.
    """

    __slots__ = ("_segments", "element", "size", "terminator", "text")

    def __init__(self, text: str, terminator: str, element: str) -> None:
        self.text = text
        self.terminator = terminator
        self.element = element
        self.size = text.count(terminator) + (0 if text.endswith(terminator) else 1)
        self._segments: list[Segment] | None = None

    def __len__(self) -> int:
        return self.size

    @property
    def is_split(self) -> bool:
        return self._segments is not None

    def segments(self) -> list[Segment]:
        """The segments (split once, then the same lists every time)."""
        if self._segments is None:
            with _gc_paused():
                self._segments = _split_bare(self.text, self.terminator, self.element)
        return self._segments

    def split_range(self, start: int, stop: int) -> list[Segment]:
        """The segments of ``text[start:stop]``, which starts a segment and ends just
        after a terminator or at the end: a part of :meth:`segments`, as new lists."""
        with _gc_paused():
            return _split_bare(self.text[start:stop], self.terminator, self.element)

    def may_hold(self, tags: frozenset[str]) -> bool:
        """False when no segment has one of ``tags`` (True may be a false alarm)."""
        starts, after_terminator = _tag_search(self.terminator, tags)
        return self.text.startswith(starts) or after_terminator(self.text) is not None


@cache
def _tag_search(
    terminator: str, tags: frozenset[str]
) -> tuple[tuple[str, ...], Callable[[str], re.Match[str] | None]]:
    """``tags`` as a tuple for ``startswith``, and a search for them after a terminator.

    One regular expression that starts with the terminator scans a chunk several times
    faster than a substring search per tag (the terminator is frequent, and each search
    stops at every one).
    """
    alternatives = "|".join(map(re.escape, sorted(tags)))
    return tuple(tags), re.compile(f"{re.escape(terminator)}(?:{alternatives})").search


Chunk: TypeAlias = "list[Segment] | TextChunk"


def segments_of(chunk: Chunk) -> list[Segment]:
    """The segments of a chunk, whichever its form."""
    return chunk if isinstance(chunk, list) else chunk.segments()


class Tokenizer:
    """Splits latin-1 text into segments for one set of delimiters."""

    __slots__ = ("_breaks", "_dirty", "_eols", "_noise", "count", "delimiters")

    def __init__(self, delimiters: X12Delimiters) -> None:
        self.delimiters = delimiters
        used = set(delimiters.element + delimiters.segment + delimiters.component)
        self._noise = "".join(c for c in _NOISE if c not in used)
        self._eols = tuple(e for e in ("\r\n", "\n", "\r") if not set(e) & used)
        self._breaks = tuple(c for c in "\r\n" if c not in used)
        # what text that is not clean holds after a terminator (see _clean): one regular
        # expression, several times faster than a substring search for each
        after = [re.escape(delimiters.segment), *map(re.escape, self._noise)]
        dirty = re.compile(f"{re.escape(delimiters.segment)}(?:{'|'.join(after)})")
        self._dirty = dirty.search
        self.count = 0  # segments produced so far: positions in errors are 1-based

    def split(self, text: str) -> list[Segment]:
        """Every segment of ``text``, which must end at a segment boundary (or the end)."""
        return self._split_normal(self._normal(text))

    def _split_normal(self, text: str) -> list[Segment]:
        """:meth:`split` over text that :meth:`_normal` gave (normalizing twice is not
        the same: each pass takes one line break off a run of blank lines)."""
        with _gc_paused():
            segments = self._split(text)
        self.count += len(segments)
        return segments

    def _split(self, text: str) -> list[Segment]:
        if self._clean(text):
            return _split_bare(text, self.delimiters.segment, self.delimiters.element)
        return self._split_noisy(text)

    def _normal(self, text: str) -> str:
        """``text`` without noise around it nor the line break after each terminator."""
        terminator = self.delimiters.segment
        text = text.strip(self._noise)
        for eol in self._eols:  # the usual layout: one segment a line
            if eol in text:
                text = text.replace(terminator + eol, terminator)
        return text

    def _clean(self, text: str) -> bool:
        """True when only bare terminators separate segments (no noise, no empties)."""
        if any(map(text.__contains__, self._breaks)):
            return False
        return self._dirty(text) is None

    def piece(self, text: str) -> Chunk:
        """The segments of ``text`` (as for :meth:`split`): a :class:`TextChunk` when the
        text is clean, which it usually is, else a list of segments."""
        text = self._normal(text)
        if not self._clean(text):
            return self._split_normal(text)
        if not text:
            return []
        chunk = TextChunk(text, self.delimiters.segment, self.delimiters.element)
        self.count += chunk.size
        return chunk

    def _split_noisy(self, text: str) -> list[Segment]:
        noise = self._noise
        stripped = [p for s in text.split(self.delimiters.segment) if (p := s.strip(noise))]
        self._check_line_breaks(stripped)
        element = self.delimiters.element
        return [p.split(element) for p in stripped]

    def _check_line_breaks(self, stripped: list[str]) -> None:
        if not self._breaks:
            return
        joined = "".join(stripped)
        if not any(c in joined for c in self._breaks):
            return
        for i, piece in enumerate(stripped):
            if any(c in piece for c in self._breaks):
                seg_id = piece.split(self.delimiters.element, 1)[0][:3]
                raise PayloadError(
                    "line break inside a segment: segments must end with "
                    f"{self.delimiters.segment!r}; another terminator merged them",
                    where=f"segment {self.count + i + 1} ({seg_id})",
                )

    def pieces(self, text: str, size: int = _PIECE) -> Iterator[Chunk]:
        """The segments of a whole text, one chunk (as :meth:`piece` gives it) per about
        ``size`` characters. Consumers that loop over a chunk in one frame (the envelope,
        the 846 mapper) avoid a generator resumption per segment, which cost as much as
        the splitting itself."""
        for span in self._spans(text, size):
            chunk = self.piece(span)
            if chunk:
                yield chunk

    def _spans(self, text: str, size: int) -> Iterator[str]:
        """``text`` cut after the first segment terminator past every ``size`` characters
        (the terminator itself dropped)."""
        terminator, pos = self.delimiters.segment, 0
        while pos < len(text):
            end = text.find(terminator, pos + size)
            if end < 0:
                end = len(text)
            yield text[pos:end]
            pos = end + len(terminator)


def tokenize(data: bytes) -> tuple[X12Delimiters, list[Segment]]:
    """All segments of an in-memory payload, as one list."""
    text = data.decode("latin-1")
    delimiters, start = read_delimiters(text[: start_hint(text)])
    return delimiters, Tokenizer(delimiters).split(text[start:])


def iter_text_pieces(data: bytes) -> tuple[X12Delimiters, Iterator[Chunk]]:
    """The segments of an in-memory payload, a chunk (:meth:`Tokenizer.pieces`) at a time."""
    text = data.decode("latin-1")
    delimiters, start = read_delimiters(text[: start_hint(text)])
    return delimiters, Tokenizer(delimiters).pieces(text[start:])


def start_hint(text: str) -> int:
    """How much of the text's head holds the ISA (after any BOM and whitespace)."""
    head = text[:4096]
    return len(head) - len(head.lstrip(_LEADING)) + _MAX_ISA


def iter_pieces(
    stream: BinaryIO, *, chunk_size: int = _CHUNK, max_segment: int = _MAX_SEGMENT
) -> tuple[X12Delimiters, Iterator[Chunk]]:
    """The segments of a binary stream, read in chunks: memory stays within a few chunks.

    Each chunk is as :meth:`Tokenizer.piece` gives it (:func:`segments_of` makes it a
    list). The delimiters are read eagerly (so a bad ISA fails at once); the segments
    lazily.
    """
    head = stream.read(chunk_size)
    while len(head) < 4096:
        more = stream.read(chunk_size)
        if not more:
            break
        head += more
    text = head.decode("latin-1")
    delimiters, start = read_delimiters(text[: start_hint(text)])
    return delimiters, _stream(stream, text[start:], delimiters, chunk_size, max_segment)


def _stream(
    stream: BinaryIO, buffer: str, delimiters: X12Delimiters, chunk_size: int, max_segment: int
) -> Iterator[Chunk]:
    tokenizer = Tokenizer(delimiters)
    terminator = delimiters.segment
    while True:
        cut = buffer.rfind(terminator)
        if cut >= 0:
            yield from tokenizer.pieces(buffer[:cut])
            buffer = buffer[cut + len(terminator) :]
        if len(buffer) > max_segment:
            raise PayloadError(
                f"no segment terminator {terminator!r} within {max_segment} bytes",
                where=f"segment {tokenizer.count + 1}",
            )
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        buffer += chunk.decode("latin-1")
    last = tokenizer.piece(buffer)
    if last:
        yield last
