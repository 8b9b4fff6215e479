"""EDIFACT tokenizer: bytes (or a binary stream) in, :class:`Segment` objects out.

Service characters
    An interchange may open with ``UNA`` followed by six characters: component separator,
    element separator, decimal mark, release character, reserved (the repetition
    separator of syntax version 4) and segment terminator. Without UNA the ISO 9735
    defaults ``:+.? '`` apply. A space in the release position means "no release
    character". Service characters are single bytes (they are read before the character
    set is known).

Release character, in one pass
    A separator is escaped exactly when it is preceded by an odd run of release
    characters. The tokenizer splits on the separator, glues back the pieces that end in
    an odd run (``???'`` is ``?`` + ``'``, ``??'`` is ``?`` followed by a real
    terminator), and then removes each release character together with the character it
    escapes with a single regular-expression substitution. Applying ``??`` and ``?'``
    as successive ``str.replace`` calls would get ``???'`` wrong; this does not.

Speed
    When a chunk of text contains no release character at all (the common case), a
    segment is ``str.split`` three times over, with no per-character Python loop. The
    slow path runs only for the segments that contain the release character.

Character set (UNB S001 syntax identifier)
    ``UNOA``/``UNOB`` are ISO 646 subsets: decoded as ASCII; stray 8-bit bytes are kept
    (read as latin-1) with a warning rather than rejecting the payload. ``UNOC`` is
    ISO 8859-1, ``UNOD``..``UNOK`` the other ISO 8859 parts, ``UNOW`` and ``UNOY`` are
    read as UTF-8 (ISO 10646 in the UTF-8 form used in practice). Anything else (``IATB``,
    ``UNOX`` code extension, a missing UNB) is read as latin-1 with a warning: latin-1
    never fails, and the delimiters are ASCII in every known syntax.

Noise and limits
    A UTF-8 byte-order mark, and CR, LF, tab and space between a terminator and the next
    tag are ignored (files are often one segment per line, or indented). The whole
    interchange may also be on one line. A segment longer than ``max_segment_chars``
    raises :class:`~supplyfeed.PayloadError`, so a body without terminators cannot grow
    memory without bound; a streamed body is read in chunks of ``chunk_size`` bytes.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from ..._exceptions import PayloadError

__all__ = [
    "DEFAULT_DELIMITERS",
    "EdifactDelimiters",
    "Segment",
    "SegmentReader",
    "charset_encoding",
    "tokenize",
]

_BOM: Final = b"\xef\xbb\xbf"
_WHITESPACE: Final = "\r\n\t \x00\x1a"
_HEAD_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class EdifactDelimiters:
    """The service characters of one interchange (``release`` is ``""`` when unused)."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    reserved: str = " "
    terminator: str = "'"

    def una(self) -> str:
        """The UNA service string advice announcing these characters."""
        return (
            f"UNA{self.component}{self.element}{self.decimal}"
            f"{self.release or ' '}{self.reserved}{self.terminator}"
        )

    @property
    def separators(self) -> str:
        """The characters that split the data (and so must be escaped inside values)."""
        return self.component + self.element + self.terminator

    def check(self) -> None:
        """Raise ``PayloadError`` unless the separators are usable and distinct."""
        chars = [self.component, self.element, self.terminator]
        if self.release:
            chars.append(self.release)
        if any(len(c) != 1 or c.isalnum() for c in chars) or len(set(chars)) != len(chars):
            raise PayloadError(
                f"unusable service characters in {self.una()!r}", where="segment 1 (UNA)"
            )


DEFAULT_DELIMITERS: Final = EdifactDelimiters()

# ISO 9735 syntax identifiers -> Python codecs (see the module docstring).
_CHARSETS: Final[dict[str, str]] = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
}


def charset_encoding(syntax_id: str) -> str | None:
    """The Python codec for a UNB syntax identifier, or None when it is not known."""
    return _CHARSETS.get(syntax_id.upper())


class Segment:
    """One segment: its tag, its data elements (each a list of components), its position.

    ``index`` counts segments from 1 at the start of the body, UNA included, so that in
    a file with one segment per line it is the line number.
    """

    __slots__ = ("elements", "index", "tag")

    def __init__(self, tag: str, elements: list[list[str]], index: int) -> None:
        self.tag = tag
        self.elements = elements
        self.index = index

    def value(self, element: int, component: int = 1) -> str:
        """Component ``component`` of data element ``element`` (both 1-based); ``""`` if absent."""
        try:
            return self.elements[element - 1][component - 1]
        except IndexError:
            return ""

    @property
    def where(self) -> str:
        return f"segment {self.index} ({self.tag})"

    def __repr__(self) -> str:
        return f"Segment({self.tag!r}, {self.elements!r}, index={self.index})"


class SegmentReader:
    """Reads the segments of an interchange from bytes or a binary stream, lazily.

    The constructor reads the head (UNA and the UNB syntax identifier); iterating yields
    the segments. ``warnings`` collects non-fatal findings (charset fallbacks).
    """

    def __init__(
        self,
        source: bytes | BinaryIO,
        *,
        chunk_size: int = 1 << 20,
        max_segment_chars: int = 1 << 20,
    ) -> None:
        self._source = source
        self._chunk_size = chunk_size
        self._max_segment = max_segment_chars
        self.warnings: list[str] = []
        head = _read_head(source, max(chunk_size, _HEAD_BYTES))
        self._head = head
        start = _skip_noise(head)
        self.has_una = head.startswith(b"UNA", start)
        self.delimiters = _read_una(head, start) if self.has_una else DEFAULT_DELIMITERS
        self._body_start = start + 9 if self.has_una else start
        self.syntax_id = _read_syntax_id(head, self._body_start, self.delimiters)
        self.encoding = self._choose_encoding()

    def _choose_encoding(self) -> str:
        encoding = charset_encoding(self.syntax_id)
        if encoding is None:
            shown = self.syntax_id or "none"
            self.warnings.append(f"unknown EDIFACT syntax identifier {shown!r}: read as latin-1")
            return "latin-1"
        return encoding

    def __iter__(self) -> Iterator[Segment]:
        index = 1 if self.has_una else 0
        splitter = _Splitter(self.delimiters, self._max_segment)
        for raw in splitter.split(self._text_chunks()):
            index += 1
            segment = _parse_segment(raw, self.delimiters, index)
            if segment is None:
                index -= 1
                continue
            yield segment
        if splitter.unterminated:
            self.warnings.append("the last segment has no terminator")

    def _byte_chunks(self) -> Iterator[bytes]:
        source = self._source
        if isinstance(source, bytes):
            yield source[self._body_start :]
            return
        yield self._head[self._body_start :]
        while chunk := source.read(self._chunk_size):
            yield chunk

    def _text_chunks(self) -> Iterator[str]:
        ascii_only = self.encoding == "ascii"
        codec = "latin-1" if ascii_only else self.encoding
        decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        offset = self._body_start
        warned = False
        for chunk in self._byte_chunks():
            if ascii_only and not warned and not chunk.isascii():
                warned = True
                self.warnings.append(f"8-bit bytes under {self.syntax_id}: read as latin-1")
            yield _decode(decoder, chunk, offset, final=False)
            offset += len(chunk)
        yield _decode(decoder, b"", offset, final=True)


def tokenize(data: bytes) -> list[Segment]:
    """All segments of an in-memory interchange (a convenience for tests and tools)."""
    return list(SegmentReader(data))


def _read_head(source: bytes | BinaryIO, size: int) -> bytes:
    """Enough bytes to see UNA and the UNB syntax identifier (short reads tolerated)."""
    if isinstance(source, bytes):
        return source[:size]
    head = b""
    while len(head) < size and (more := source.read(size - len(head))):
        head += more
    return head


def _decode(decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int, *, final: bool) -> str:
    try:
        return decoder.decode(chunk, final)
    except UnicodeDecodeError as exc:
        raise PayloadError(
            f"bytes not valid in the declared character set ({exc.reason})",
            where=f"byte {offset + exc.start}",
            kind="charset",
        ) from exc


def _skip_noise(head: bytes) -> int:
    start = len(_BOM) if head.startswith(_BOM) else 0
    while start < len(head) and head[start] in b"\r\n\t ":
        start += 1
    return start


def _read_una(head: bytes, start: int) -> EdifactDelimiters:
    una = head[start : start + 9]
    if len(una) < 9:
        raise PayloadError("truncated UNA service string advice", where="segment 1 (UNA)")
    chars = una[3:].decode("latin-1")
    delimiters = EdifactDelimiters(
        component=chars[0],
        element=chars[1],
        decimal=chars[2],
        release="" if chars[3] == " " else chars[3],
        reserved=chars[4],
        terminator=chars[5],
    )
    delimiters.check()
    return delimiters


def _read_syntax_id(head: bytes, start: int, delimiters: EdifactDelimiters) -> str:
    """The S001 syntax identifier of the UNB that opens the body, or ``""``."""
    text = head[start : start + 256].decode("latin-1").lstrip(_WHITESPACE)
    if not text.startswith("UNB" + delimiters.element):
        return ""
    value = text[4:]
    for stop in delimiters.separators:
        value = value.split(stop, 1)[0]
    return value.strip()


class _Splitter:
    """Splits decoded text chunks into raw segment strings (release-aware, bounded)."""

    def __init__(self, delimiters: EdifactDelimiters, max_segment: int) -> None:
        self._term = delimiters.terminator
        self._release = delimiters.release
        self._max = max_segment
        self.unterminated = False

    def split(self, chunks: Iterable[str]) -> Iterator[str]:
        term, release = self._term, self._release
        carry = ""
        for chunk in chunks:
            if not chunk:
                continue
            text = carry + chunk
            pieces = text.split(term)
            carry = pieces.pop()
            if release and release in text:
                pieces, pending = _rejoin(pieces, release, term)
                if pending is not None:
                    carry = pending + term + carry
            if len(carry) > self._max:
                raise PayloadError(
                    f"segment longer than {self._max} characters (missing terminator?)",
                    where="after the last complete segment",
                )
            yield from pieces
        if carry.strip(_WHITESPACE):
            self.unterminated = True
            yield carry.rstrip(_WHITESPACE)


def _rejoin(pieces: list[str], release: str, sep: str) -> tuple[list[str], str | None]:
    """Glue back pieces split at an escaped separator; return them and an open remainder."""
    out: list[str] = []
    pending: str | None = None
    for piece in pieces:
        if pending is not None:
            piece = pending + sep + piece
            pending = None
        if piece.endswith(release) and (len(piece) - len(piece.rstrip(release))) % 2:
            pending = piece
        else:
            out.append(piece)
    return out, pending


_valid_tags: set[str] = set()


def _parse_segment(raw: str, d: EdifactDelimiters, index: int) -> Segment | None:
    raw = raw.lstrip(_WHITESPACE)
    if not raw:
        return None
    if d.release and d.release in raw:
        elements = _split_released(raw, d, index)
    else:
        elements = [e.split(d.component) for e in raw.split(d.element)]
    tag = elements[0][0]
    if tag not in _valid_tags:
        _check_tag(tag, index)
    return Segment(tag, elements[1:], index)


def _check_tag(tag: str, index: int) -> None:
    if len(tag) == 3 and tag.isascii() and tag.isalnum() and tag.isupper():
        if len(_valid_tags) < 4096:  # a cache of good tags, bounded against junk input
            _valid_tags.add(tag)
        return
    raise PayloadError(f"not a segment tag: {tag[:20]!r}", where=f"segment {index}")


def _split_released(raw: str, d: EdifactDelimiters, index: int) -> list[list[str]]:
    """The slow path: split with escaped separators honoured, then unescape once."""
    unescape = _unescaper(d.release)
    return [
        [unescape(c) for c in _split_escaped(element, d.component, d.release, index)]
        for element in _split_escaped(raw, d.element, d.release, index)
    ]


def _split_escaped(text: str, sep: str, release: str, index: int) -> list[str]:
    parts, pending = _rejoin(text.split(sep), release, sep)
    if pending is not None:
        raise PayloadError("release character at the end of a segment", where=f"segment {index}")
    return parts


_unescapers: dict[str, re.Pattern[str]] = {}


def _unescaper(release: str) -> _Unescape:
    pattern = _unescapers.get(release)
    if pattern is None:
        pattern = _unescapers[release] = re.compile(re.escape(release) + "(.)", re.DOTALL)
    return _Unescape(pattern, release)


class _Unescape:
    __slots__ = ("_pattern", "_release")

    def __init__(self, pattern: re.Pattern[str], release: str) -> None:
        self._pattern = pattern
        self._release = release

    def __call__(self, value: str) -> str:
        if self._release not in value:
            return value
        # One pass: each release character is removed with the character it escapes.
        return self._pattern.sub(_keep_escaped, value)


def _keep_escaped(match: re.Match[str]) -> str:
    return match.group(1)
