"""Generic XML through a per-feed :class:`~supplyfeed.FieldMapping`.

XML has no canonical shape here, so a mapping is required. Its paths are read like this:

- ``records`` is the element path of the line records, e.g. ``Stock/Item``. When its first
  step names the root element it is taken from the root (``Stock`` is the root and each
  ``Item`` child a record); otherwise it starts below the root (``Lines/Line`` under any
  root). Records are found by path only, never by searching, so a ``Line`` elsewhere does
  not count.
- ``fields`` maps a canonical field to a path relative to the record: ``Sku`` (the
  child element's text), ``@sku`` (an attribute of the record), ``Qty/@uom`` (an attribute
  of a child). Steps are separated by ``/`` or ``.`` (the FieldMapping docstring says
  "dotted", as for JSON), so element names that contain a dot cannot be addressed.
- a path starting with ``$.`` is a header field read from the document instead, relative
  to the root element (``$.Header/AsOf``, ``$.@warehouse``). Header elements must come
  before the records they apply to, as they do in every feed shape seen in practice:
  the payload is streamed, and a record sees the header values parsed before it.
- ``constants`` give values for canonical fields the mapping does not map, as for JSON and
  CSV. Blank text and absent elements are absent values (defaults apply).

Each record yields one line (an inventory item, a PO-ack line, an ASN line) plus the
header fields of its document; a record with no line field present contributes only its
document's header, which is how a document without lines is written. Records are grouped
into documents by the document's natural key (docs/contract.md §5): inventory by
(warehouse_id, as_of), PO acks by (po_number, ack_number), ship notices by asn_number; the
other header fields come from the document's first record. Values convert to the
canonical types with msgspec's lax mode (``"12"`` -> 12), as for JSON and CSV; a value
that does not convert is ``PayloadError(kind="validation")`` naming the record
(``Stock/Item[3].on_hand``, 1-based). Documents come in parts of at most
``ctx.max_items_per_part`` lines, with bounded memory for spooled payloads.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgspec

from .._config import FieldMapping
from .._exceptions import PayloadError
from .._models import (
    DOCUMENT_TYPES,
    DocKind,
    Document,
    InventoryItem,
    PoAckLine,
    ShipNoticeLine,
    document_key,
)
from .base import DecodeContext
from .body import Body
from .mapping import HEADER_FIELDS, LINE_FIELDS, LINES_FIELD, validation_where
from .safe_xml import CHUNK_SIZE, XmlEvents, parts_by_key, text_of
from .safe_xml import iterparse as safe_iterparse

__all__ = ["decode"]

_STEP = re.compile(r"[/.]")
_PLAIN = re.compile(r"[\w:-]+")  # a step that ``Element.find`` reads as a plain tag
_LINE_TYPES: dict[DocKind, type[msgspec.Struct]] = {
    DocKind.INVENTORY_SNAPSHOT: InventoryItem,
    DocKind.PO_ACK: PoAckLine,
    DocKind.SHIP_NOTICE: ShipNoticeLine,
}


@dataclass(frozen=True, slots=True)
class _Path:
    """A compiled mapping path: element steps, then an optional attribute."""

    steps: tuple[str, ...]
    attr: str | None
    # ``find`` of a plain tag is ElementTree's C loop over the children; a step with
    # ElementPath syntax in it ("*", "[1]") is no tag, and is compared as written
    plain: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plain", all(map(_PLAIN.fullmatch, self.steps)))

    def value(self, elem: ET.Element) -> str | None:
        plain = self.plain
        for step in self.steps:
            if plain:
                found = elem.find(step)
            else:
                found = next((child for child in elem if child.tag == step), None)
            if found is None:
                return None
            elem = found
        if self.attr is None:
            return text_of(elem)
        raw = elem.get(self.attr)
        return raw.strip() or None if raw is not None else None


def _compile(path: str, where: str) -> _Path:
    parts = [p for p in _STEP.split(path.strip()) if p]
    attr = parts.pop()[1:] if parts and parts[-1].startswith("@") else None
    if any(p.startswith("@") for p in parts) or (not parts and attr is None) or attr == "":
        raise PayloadError(f"unusable XML mapping path {path!r}", where=where, kind="mapping")
    return _Path(tuple(parts), attr)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The mapping compiled against one document's root tag."""

    records: tuple[str, ...]
    fields: dict[str, _Path]  # record-relative
    header: dict[str, _Path]  # canonical name -> root-relative path
    constants: dict[str, str]
    root: str

    def records_where(self, count: int) -> str:
        return f"{'/'.join((self.root, *self.records))}[{count}]"


def _plan(mapping: FieldMapping, root_tag: str) -> _Plan:
    records = tuple(p for p in mapping.records.strip().split("/") if p)
    if not records:
        raise PayloadError(
            "an XML mapping needs 'records', the element path of the line records",
            where="mapping.records",
            kind="mapping",
        )
    if records[0] == root_tag:
        records = records[1:]
    fields: dict[str, _Path] = {}
    header: dict[str, _Path] = {}
    for name, source in mapping.fields.items():
        if source.startswith("$."):
            path = _compile(source[2:], f"mapping.fields.{name}")
            if path.steps and path.steps[0] == root_tag:
                path = _Path(path.steps[1:], path.attr)
            header[name] = path
        else:
            fields[name] = _compile(source, f"mapping.fields.{name}")
    return _Plan(records, fields, header, dict(mapping.constants), root_tag)


def decode(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    """Decode a generic XML payload through ``ctx.mapping`` (see the module docstring)."""
    if ctx.mapping is None:
        raise PayloadError(
            "generic XML needs a field mapping (feeds file: 'mapping' with records, fields "
            "and constants); only cXML decodes without one",
            where="feed mapping",
            kind="mapping",
        )
    try:
        yield from _decode(body, ctx, ctx.mapping)
    except PayloadError:
        raise
    except (ValueError, LookupError, TypeError) as exc:
        raise PayloadError(f"undecodable XML: {exc}", kind="validation") from exc


_Key = tuple[str, ...]
_Line = tuple[Document, msgspec.Struct | None]


def _decode(body: Body, ctx: DecodeContext, mapping: FieldMapping) -> Iterator[Document]:
    root = _peek_root(body)

    def records() -> Iterator[tuple[_Key, _Line]]:
        with body.open() as stream:
            yield from _keyed_records(stream, ctx, mapping, root)

    lines_field = LINES_FIELD[ctx.kind]
    grouped = parts_by_key(records, spooled=body.spooled, max_items=ctx.max_items_per_part)
    for _key, part in grouped:
        header = part[0][0]
        lines = [line for _, line in part if line is not None]
        yield msgspec.structs.replace(header, **{lines_field: lines})


def _keyed_records(
    stream: BinaryIO, ctx: DecodeContext, mapping: FieldMapping, root: str | None
) -> Iterator[tuple[_Key, _Line]]:
    """Each record's document key, converted header and converted line (or None)."""
    converter = _Converter(ctx)
    for where, get in _records(stream, mapping, root):
        key, header, line = converter.convert(where, get)
        yield key, (header, line)


class _Converter:
    """Converts records with msgspec; consecutive records usually share one header, so
    its conversion and document key are reused."""

    def __init__(self, ctx: DecodeContext) -> None:
        self._ctx = ctx
        self._header_names = HEADER_FIELDS[ctx.kind]
        self._line_names = LINE_FIELDS[ctx.kind]
        self._line_type = _LINE_TYPES[ctx.kind]
        self._last: tuple[tuple[tuple[str, Any], ...], _Key, Document] | None = None

    def convert(self, where: str, get: Callable[[str], Any]) -> tuple[_Key, Document, Any]:
        raw_header = {n: v for n in self._header_names if (v := get(n)) not in (None, "")}
        raw_header.setdefault("supplier_id", self._ctx.supplier_id)
        key, header = self._header(tuple(raw_header.items()), where)
        raw_line = {n: v for n in self._line_names if (v := get(n)) not in (None, "")}
        line = _convert(raw_line, self._line_type, where) if raw_line else None
        return key, header, line

    def _header(self, raw: tuple[tuple[str, Any], ...], where: str) -> tuple[_Key, Document]:
        if self._last is not None and self._last[0] == raw:
            return self._last[1], self._last[2]
        header: Document = _convert(dict(raw), DOCUMENT_TYPES[self._ctx.kind], where)
        key = document_key(header)
        self._last = (raw, key, header)
        return key, header


def _convert(raw: dict[str, Any], cls: type[msgspec.Struct], where: str) -> Any:
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise PayloadError(
            f"invalid record: {exc}", where=validation_where(exc, where), kind="validation"
        ) from exc


def _records(
    stream: BinaryIO, mapping: FieldMapping, root: str | None
) -> Iterator[tuple[str, Callable[[str], Any]]]:
    """Stream ``(where, get)`` pairs, one per record element, in document order.

    Outside records, the elements and attributes named by ``$.`` paths are captured as
    they are parsed, so a record sees exactly the header values that precede it, however
    the input is chunked (see :class:`_Walk`).
    """
    plan = _plan(mapping, root) if root is not None else None
    events = safe_iterparse(stream, max_depth=_event_depth(mapping, plan))
    walk = _Walk(mapping, plan, events)
    parsed = iter(events)  # once: each iter() would read the stream anew
    for _, elem in parsed:
        walk.open(elem)  # the root element (plan was computed from a peek at it)
        break
    for event, elem in parsed:
        if event == "start":
            walk.start(elem)
        elif not walk.stack:  # the root's end tag
            if walk.whole_document:
                yield walk.record(elem)
            break
        elif (record := walk.end(elem)) is not None:
            yield record
    yield from walk.finish()


class _Walk:
    """The state of :func:`_records` between parse events.

    ``stack`` holds the tags below the root of the open elements; ``in_record`` is the
    depth inside the record element being read (0: outside records)."""

    __slots__ = ("count", "events", "header", "in_record", "mapping", "plan", "shape", "stack")

    def __init__(self, mapping: FieldMapping, plan: _Plan | None, events: XmlEvents) -> None:
        self.mapping = mapping
        self.plan = plan
        self.events = events
        self.stack: list[str] = []
        self.in_record = 0
        self.header: dict[str, str] = {}
        self.count = 0
        self.shape = _Container()

    @property
    def opened(self) -> _Plan:
        assert self.plan is not None, "open() comes first"
        return self.plan

    @property
    def whole_document(self) -> bool:
        """No records path: the whole document is the one record."""
        return not self.opened.records

    def open(self, root: ET.Element) -> None:
        if self.plan is None or self.plan.root != root.tag:
            self.plan = _plan(self.mapping, root.tag)
        _capture(self.plan, (), root, self.header, attrs_only=True)
        self.in_record = 0 if self.plan.records else 1  # the root is the one record: whole

    def start(self, elem: ET.Element) -> None:
        plan, stack = self.opened, self.stack
        stack.append(elem.tag)
        self.shape.saw(plan.records, stack)
        if self.in_record or tuple(stack) == plan.records:
            self.in_record += 1
        else:
            _capture(plan, tuple(stack), elem, self.header, attrs_only=True)

    def end(self, elem: ET.Element) -> tuple[str, Callable[[str], Any]] | None:
        """An element below the root ends; the record it completes, if it does."""
        record = None
        if self.in_record:
            self.in_record -= 1
            if self.in_record == 0:
                record = self.record(elem)
                self.events.release(elem)
        else:
            _capture(self.opened, tuple(self.stack), elem, self.header, attrs_only=False)
            self.events.release(elem)
        self.stack.pop()
        return record

    def record(self, elem: ET.Element) -> tuple[str, Callable[[str], Any]]:
        self.count += 1
        plan = self.opened
        return plan.records_where(self.count), _getter(elem, plan, dict(self.header))

    def finish(self) -> Iterator[tuple[str, Callable[[str], Any]]]:
        if self.count or self.plan is None:
            return
        self.shape.check(self.plan)
        if self.header:
            # No line records, but a header: a document without lines (a header-level ASN).
            yield "document header", _getter(ET.Element("none"), self.plan, self.header)


class _Container:
    """Whether the records path matched nothing for want of records, or was wrong.

    The element that holds the records (the path less its last step) may be present and
    empty: a document without lines, as a header-only ship notice is. Absent, or holding
    only other elements, the mapping matches nothing in this payload: a payload error, so
    that it is quarantined instead of loading nothing and reporting success (docs/contract.md
    §6)."""

    __slots__ = ("children", "found")

    def __init__(self) -> None:
        self.found = False
        self.children = 0

    def saw(self, records: tuple[str, ...], stack: list[str]) -> None:
        depth = len(records) - 1
        if len(stack) == depth and tuple(stack) == records[:-1]:
            self.found = True
        elif len(stack) == depth + 1 and tuple(stack[:-1]) == records[:-1]:
            self.children += 1

    def check(self, plan: _Plan) -> None:
        if not plan.records:
            return
        container = "/".join((plan.root, *plan.records[:-1]))
        if len(plan.records) > 1 and not self.found:
            problem = f"no element {container} in this payload"
        elif self.children:
            problem = f"none of the {self.children} elements under {container} is a record"
        else:
            return
        raise PayloadError(
            f"mapping.records {'/'.join((plan.root, *plan.records))!r} matches nothing: {problem}",
            where="mapping.records",
            kind="mapping",
        )


def _peek_root(body: Body) -> str | None:
    """The root element's tag, from the first bytes (None if they do not show it)."""
    try:
        for _event, elem in safe_iterparse(io.BytesIO(body.head(CHUNK_SIZE)), max_depth=1):
            return elem.tag
    except PayloadError:
        pass  # the real parse reports it, with the right position
    return None


def _event_depth(mapping: FieldMapping, plan: _Plan | None) -> int:
    """How deep parse events are needed: down to the records and the header elements.

    Deeper elements are still built into their records; they just cost no event. Without
    a plan (root unknown) the depth allows for paths that start below the root.
    """
    if plan is not None:
        header = max((len(p.steps) + 1 for p in plan.header.values()), default=1)
        return max(len(plan.records) + 1, header)
    steps = [p for p in mapping.records.split("/") if p]
    headers = [_compile(p[2:], k) for k, p in mapping.fields.items() if p.startswith("$.")]
    return max(len(steps) + 1, max((len(p.steps) + 2 for p in headers), default=1))


def _capture(
    plan: _Plan,
    steps: tuple[str, ...],
    elem: ET.Element,
    header: dict[str, str],
    *,
    attrs_only: bool,
) -> None:
    for name, path in plan.header.items():
        if name in header or path.steps != steps or (path.attr is None) == attrs_only:
            continue
        value = elem.get(path.attr) if path.attr is not None else text_of(elem)
        if value is not None and value.strip():
            header[name] = value.strip()


def _getter(record: ET.Element, plan: _Plan, header: dict[str, str]) -> Callable[[str], Any]:
    fields, constants, header_paths = plan.fields, plan.constants, plan.header

    def get(name: str) -> Any:
        path = fields.get(name)
        if path is not None:
            return path.value(record)
        if name in header_paths:
            return header.get(name)
        return constants.get(name)

    return get
