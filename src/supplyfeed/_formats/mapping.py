"""Turning flat or mapped records into canonical documents (shared by JSON, CSV, XML).

A *record* is one line item (an inventory item, a PO-ack line, an ASN line) together with
the header fields of the document it belongs to. Records with the same document key are
grouped into one document, in first-seen order. Values are converted with msgspec's
lax mode, so "12" becomes 12 and "2026-11-28T07:45:00Z" a datetime; a value that does not
convert is a :class:`~supplyfeed.PayloadError` naming the record and the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

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
)
from .base import DecodeContext

__all__ = [
    "HEADER_FIELDS",
    "LINE_FIELDS",
    "build_documents",
    "convert_document",
    "lookup",
    "validation_where",
]

_LINE_TYPES: Final[dict[DocKind, type[msgspec.Struct]]] = {
    DocKind.INVENTORY_SNAPSHOT: InventoryItem,
    DocKind.PO_ACK: PoAckLine,
    DocKind.SHIP_NOTICE: ShipNoticeLine,
}
LINES_FIELD: Final[dict[DocKind, str]] = {
    DocKind.INVENTORY_SNAPSHOT: "items",
    DocKind.PO_ACK: "lines",
    DocKind.SHIP_NOTICE: "lines",
}


def _names(cls: type[msgspec.Struct], exclude: set[str]) -> tuple[str, ...]:
    return tuple(f for f in cls.__struct_fields__ if f not in exclude)


HEADER_FIELDS: Final[dict[DocKind, tuple[str, ...]]] = {
    kind: _names(DOCUMENT_TYPES[kind], {"items", "lines", "codes"}) for kind in DocKind
}
LINE_FIELDS: Final[dict[DocKind, tuple[str, ...]]] = {
    kind: _names(_LINE_TYPES[kind], {"codes"}) for kind in DocKind
}


def lookup(obj: Any, path: str) -> Any:
    """Follow a dotted path (``a.b.0.c``) through dicts and lists; None when absent."""
    for part in path.split("."):
        if isinstance(obj, Mapping):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
        if obj is None:
            return None
    return obj


def validation_where(exc: msgspec.ValidationError, prefix: str = "") -> str:
    text = str(exc)
    _, sep, path = text.rpartition(" - at `")
    path = path.rstrip("`") if sep else "$"
    return f"{prefix}{path[1:]}" if prefix else path


def convert_document(data: dict[str, Any], kind: DocKind, where: str) -> Document:
    """Lax conversion of a plain dict to the canonical document type of ``kind``."""
    try:
        doc = msgspec.convert(data, DOCUMENT_TYPES[kind], strict=False)
    except msgspec.ValidationError as exc:
        raise PayloadError(
            f"invalid {kind.value}: {exc}", where=validation_where(exc, where), kind="validation"
        ) from exc
    _check_finite(doc, kind, where)
    return doc


_NUMERIC_LINE_FIELDS: Final = {
    DocKind.INVENTORY_SNAPSHOT: ("on_hand", "available"),
    DocKind.PO_ACK: ("ordered_qty", "acked_qty", "unit_price"),
    DocKind.SHIP_NOTICE: ("shipped_qty",),
}


def _check_finite(doc: Document, kind: DocKind, where: str) -> None:
    """Lax conversion reads "nan" and "inf" as floats; no quantity or price is either."""
    names = _NUMERIC_LINE_FIELDS[kind]
    for i, line in enumerate(getattr(doc, LINES_FIELD[kind])):
        for name in names:
            value = getattr(line, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise PayloadError(
                    f"{name} is {value}, not a finite number",
                    where=f"{where} {LINES_FIELD[kind]}[{i}].{name}",
                    kind="validation",
                )


def build_documents(
    records: Iterable[tuple[str, Callable[[str], Any]]],
    ctx: DecodeContext,
) -> Iterator[Document]:
    """Group records into documents.

    ``records`` yields ``(where, get)`` pairs: ``where`` names the record for error
    messages (``line 7``, ``$.data[3]``) and ``get(field)`` returns the record's value for
    a canonical field name (None or "" when absent). Documents are complete once every
    record has been read, so this holds one payload's documents in memory; streaming
    decoders of huge payloads yield parts instead.
    """
    kind = ctx.kind
    header_names, line_names = HEADER_FIELDS[kind], LINE_FIELDS[kind]
    lines_field = LINES_FIELD[kind]
    docs: dict[tuple[Any, ...], dict[str, Any]] = {}
    first_where: dict[tuple[Any, ...], str] = {}
    for where, get in records:
        header = {n: v for n in header_names if (v := get(n)) not in (None, "")}
        if not header.get("supplier_id"):
            header["supplier_id"] = ctx.supplier_id
        key = tuple(sorted((k, str(v)) for k, v in header.items()))
        doc = docs.get(key)
        if doc is None:
            doc = docs[key] = {**header, lines_field: []}
            first_where[key] = where
        line = {n: v for n in line_names if (v := get(n)) not in (None, "")}
        if line:
            doc[lines_field].append(line)
    for key, doc in docs.items():
        yield convert_document(doc, kind, first_where[key])


def mapped_getter(
    record: Any, root: Any, mapping: FieldMapping, path_lookup: Callable[[Any, str], Any] = lookup
) -> Callable[[str], Any]:
    """``get(field)`` for a record under a :class:`FieldMapping`."""
    fields, constants = mapping.fields, mapping.constants

    def get(name: str) -> Any:
        source = fields.get(name)
        if source is None:
            return constants.get(name)
        if source.startswith("$."):
            return path_lookup(root, source[2:])
        return path_lookup(record, source)

    return get
