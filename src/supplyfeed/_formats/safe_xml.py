"""A safe, incremental XML event source shared by the cXML and generic XML decoders.

Supplier XML is untrusted, so the parser is expat driven directly, with every door that
leads outside the bytes shut:

- a ``<!DOCTYPE ... SYSTEM "...">`` line is accepted (every cXML document carries one)
  but the external DTD is never loaded: parameter-entity parsing is off and no external
  entity handler resolves anything, so nothing is fetched and no file is read;
- any ``<!ENTITY ...>`` declaration, internal or external, general or parameter, is refused
  with ``PayloadError(kind="unsafe_xml")`` the moment expat reports it, i.e. before a
  billion-laughs expansion or an XXE file read could start;
- a reference to an entity that was never declared (possible once a DOCTYPE names an
  external subset, which expat then skips) is a ``syntax`` error, not a silent blank.

:func:`iterparse` reads a binary stream in chunks and yields ``("start", elem)`` and
``("end", elem)`` events over ``xml.etree.ElementTree`` elements, like
``ElementTree.iterparse``. Tags are the names as written (no namespace expansion), which is
what mapping paths such as ``Stock/Item`` refer to. Memory stays bounded only if the
consumer calls :meth:`XmlEvents.release` on each element it is done with: the element is
detached from its parent, so the tree never grows past the open path plus one record.

Text is kept exactly as parsed; callers decide whether surrounding whitespace matters.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Hashable, Iterator
from typing import BinaryIO, Literal, NoReturn, TypeAlias, TypeVar
from xml.parsers import expat

from .._exceptions import PayloadError

__all__ = ["CHUNK_SIZE", "Event", "XmlEvents", "iterparse", "parts_by_key", "text_of"]

CHUNK_SIZE = 64 * 1024

Event: TypeAlias = tuple[Literal["start", "end"], ET.Element]


class XmlEvents:
    """Iterator of parse events over a binary stream, with :meth:`release` for the consumer.

    Events are produced one chunk at a time: at most one chunk's worth of elements exists
    that the consumer has not seen yet.
    """

    def __init__(
        self, stream: BinaryIO, *, chunk_size: int = CHUNK_SIZE, max_depth: int = 1 << 30
    ) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self._max_depth = max_depth
        self._depth = 0
        self._builder = ET.TreeBuilder()
        self._pending: list[Event] = []
        self._seen: list[ET.Element] = []  # open elements, as far as the consumer has read
        self._parser = _make_parser(self)
        self.root: ET.Element | None = None

    # -- expat callbacks --------------------------------------------------------------
    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        elem = self._builder.start(tag, attrs)
        self._depth += 1
        if self._depth <= self._max_depth:
            self._pending.append(("start", elem))
        if self.root is None:
            self.root = elem

    def _end(self, tag: str) -> None:
        elem = self._builder.end(tag)
        if self._depth <= self._max_depth:
            self._pending.append(("end", elem))
        self._depth -= 1

    # -- consumer API -----------------------------------------------------------------
    def __iter__(self) -> Iterator[Event]:
        read = self._stream.read
        seen = self._seen
        while True:
            chunk = read(self._chunk_size)
            self._feed(chunk, final=not chunk)
            pending, self._pending = self._pending, []
            for event in pending:
                if event[0] == "start":
                    seen.append(event[1])
                    yield event
                else:
                    yield event
                    seen.pop()  # after the consumer is done, so release() finds the parent
            if not chunk:
                return

    def release(self, elem: ET.Element) -> None:
        """Detach a finished element from its parent so that it can be freed.

        Call it while handling the element's ``end`` event. The parser may have read
        further than the consumer, so the element is not always its parent's last child;
        then it is searched among the children parsed since (at most a chunk's worth).
        """
        seen = self._seen
        if len(seen) < 2 or seen[-1] is not elem:
            return
        parent = seen[-2]
        if parent[-1] is elem:
            del parent[-1]
        else:
            parent.remove(elem)

    def where(self) -> str:
        """The parser's current position (the end of the last chunk read)."""
        line, column = self._parser.CurrentLineNumber, self._parser.CurrentColumnNumber
        return f"line {line}, column {column + 1}"

    def _feed(self, chunk: bytes, *, final: bool) -> None:
        try:
            self._parser.Parse(chunk, final)
        except expat.ExpatError as exc:
            column = (exc.offset or 0) + 1
            where = f"line {exc.lineno}, column {column}"
            message = f"malformed XML: {expat.ErrorString(exc.code)}"
            raise PayloadError(message, where=where, kind="syntax") from exc


def iterparse(
    stream: BinaryIO, *, chunk_size: int = CHUNK_SIZE, max_depth: int = 1 << 30
) -> XmlEvents:
    """Safe incremental parse of ``stream``; iterate the result for events.

    Only elements at most ``max_depth`` deep (the root is depth 1) are reported; deeper
    ones are still built into their ancestors. A consumer that maps whole records needs
    events down to the record level only, and every event it skips is time saved: the
    per-event cost in Python is most of the cost of a parse.
    """
    return XmlEvents(stream, chunk_size=chunk_size, max_depth=max_depth)


def text_of(elem: ET.Element | None) -> str | None:
    """An element's own text, stripped; ``None`` when absent or blank.

    Surrounding whitespace is layout (pretty-printed XML indents values), never data.
    """
    if elem is None or elem.text is None:
        return None
    text = elem.text.strip()
    return text or None


def _make_parser(events: XmlEvents) -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.ordered_attributes = False
    # Never read the external DTD subset (nor any parameter entity): nothing is fetched.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = events._start
    parser.EndElementHandler = events._end
    # the builder's own (C) method: a Python wrapper cost a frame per text node
    parser.CharacterDataHandler = events._builder.data

    def position() -> str:
        return f"line {parser.CurrentLineNumber}, column {parser.CurrentColumnNumber + 1}"

    def refuse_entity(name: str, *_: object) -> NoReturn:
        raise PayloadError(
            f"XML entity declarations are refused (entity {name!r})",
            where=position(),
            kind="unsafe_xml",
        )

    def refuse_external(_context: str, _base: str | None, system_id: str | None, *_: object) -> int:
        raise PayloadError(
            f"external XML entity reference refused ({system_id!r})",
            where=position(),
            kind="unsafe_xml",
        )

    def skipped_entity(name: str, _is_parameter: bool) -> None:
        raise PayloadError(
            f"reference to undeclared entity &{name};", where=position(), kind="syntax"
        )

    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.SkippedEntityHandler = skipped_entity
    return parser


# -- grouping streamed records into documents -----------------------------------------

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

MAX_KEY_PASSES = 64
"""How many extra passes over a spooled payload an interleaved document order may cost."""


def parts_by_key(
    records: Callable[[], Iterator[tuple[K, R]]],
    *,
    spooled: bool,
    max_items: int,
) -> Iterator[tuple[K, list[R]]]:
    """Group keyed records into document parts of at most ``max_items``, one key at a time.

    The sink treats *consecutive* parts with one natural key as one document, so all parts
    of a key must come out together even when the source interleaves documents. An
    in-memory payload is grouped in memory (the records cost about what the bytes do).
    A spooled payload is read more than once instead, to keep memory bounded: a first pass
    learns the keys and whether each key's records are contiguous; if they are, a second
    pass streams them; if not, one pass per key (up to :data:`MAX_KEY_PASSES` keys, beyond
    which the payload is refused rather than held whole).

    ``records`` must produce the same sequence every time it is called.
    """
    if not spooled:
        yield from _grouped_in_memory(records(), max_items)
        return
    keys, contiguous = _scan_keys(records())
    if contiguous:
        yield from _grouped_contiguous(records(), max_items)
        return
    if len(keys) > MAX_KEY_PASSES:
        raise PayloadError(
            f"{len(keys)} documents interleave their records in a spooled payload; "
            f"at most {MAX_KEY_PASSES} can be regrouped",
            where="document order",
            kind="validation",
        )
    for key in keys:
        selected = ((k, r) for k, r in records() if k == key)
        yield from _grouped_contiguous(selected, max_items)


def _grouped_in_memory(pairs: Iterator[tuple[K, R]], max_items: int) -> Iterator[tuple[K, list[R]]]:
    groups: dict[K, list[R]] = {}
    for key, record in pairs:
        groups.setdefault(key, []).append(record)
    for key, items in groups.items():
        for start in range(0, len(items), max_items):
            yield key, items[start : start + max_items]


def _scan_keys(pairs: Iterator[tuple[K, R]]) -> tuple[list[K], bool]:
    keys: list[K] = []
    seen: set[K] = set()
    contiguous = True
    for key, _ in pairs:
        if keys and keys[-1] == key:
            continue
        if key in seen:
            contiguous = False
            continue
        seen.add(key)
        keys.append(key)
    return keys, contiguous


def _grouped_contiguous(
    pairs: Iterator[tuple[K, R]], max_items: int
) -> Iterator[tuple[K, list[R]]]:
    current: list[R] = []
    current_key: K | None = None
    started = False
    for key, record in pairs:
        if started and (key != current_key or len(current) >= max_items):
            assert current_key is not None
            yield current_key, current
            current = []
        current_key, started = key, True
        current.append(record)
    if started:
        assert current_key is not None
        yield current_key, current
