"""JSON: canonical documents (docs/contract.md §4) without a mapping, any other shape with one.

Canonical payloads are one document object or an array of them, decoded and validated
in one msgspec pass. A spooled (large) canonical payload is streamed with ijson (the
yajl2_c backend when available): an inventory snapshot's ``items`` arrive in parts of at
most ``ctx.max_items_per_part``, so memory stays bounded whatever the payload size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, Final

import ijson
import msgspec
import orjson

from .._exceptions import PayloadError
from .._models import DOCUMENT_TYPES, DocKind, Document, InventoryItem, InventorySnapshot
from .base import DecodeContext
from .body import Body
from .mapping import build_documents, convert_document, lookup, mapped_getter, validation_where

__all__ = ["decode"]

_DECODERS: Final = {
    kind: msgspec.json.Decoder(DOCUMENT_TYPES[kind] | list[DOCUMENT_TYPES[kind]])  # type: ignore[valid-type]
    for kind in DocKind
}
_ITEM_DECODER: Final = msgspec.json.Decoder(InventoryItem)
_HEADER_KEYS: Final = (
    "supplier_id",
    "warehouse_id",
    "as_of",
    "issued_at",
    "control_number",
    "codes",
)
_TAIL_BYTES: Final = 1 << 20  # how far from the end a header field after the items is looked for


def decode(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    if ctx.mapping is not None:
        yield from _decode_mapped(body, ctx)
    elif body.spooled and ctx.kind is DocKind.INVENTORY_SNAPSHOT:
        yield from _stream_inventory(body, ctx)
    else:
        yield from _decode_canonical(body.read(), ctx)


def _decode_canonical(data: bytes, ctx: DecodeContext) -> Iterator[Document]:
    try:
        decoded = _DECODERS[ctx.kind].decode(data)
    except msgspec.ValidationError as exc:
        raise PayloadError(
            f"not a canonical {ctx.kind.value}: {exc}",
            where=validation_where(exc),
            kind="validation",
        ) from exc
    except msgspec.DecodeError as exc:
        raise PayloadError(f"invalid JSON: {exc}", where=_json_where(exc, len(data))) from exc
    docs: list[Document] = decoded if isinstance(decoded, list) else [decoded]
    for doc in docs:
        if not doc.supplier_id:
            doc.supplier_id = ctx.supplier_id
        yield doc


def _json_where(exc: Exception, size: int) -> str:
    _, sep, pos = str(exc).rpartition("at byte ")
    if sep:
        return f"byte {pos}"
    return f"byte {size} (end of input)" if "truncated" in str(exc) else "$"


def _decode_mapped(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    assert ctx.mapping is not None
    mapping = ctx.mapping
    try:
        root = orjson.loads(body.read())
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"invalid JSON: {exc.msg}", where=f"byte {exc.pos}") from exc
    records = lookup(root, mapping.records) if mapping.records else root
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list):
        raise PayloadError(
            f"mapping.records {mapping.records!r} is not a list in this payload",
            where=f"$.{mapping.records}",
            kind="validation",
        )
    prefix = f"$.{mapping.records}" if mapping.records else "$"
    yield from build_documents(
        ((f"{prefix}[{i}]", mapped_getter(r, root, mapping)) for i, r in enumerate(records)),
        ctx,
    )


def _stream_inventory(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    """A large canonical inventory payload (one snapshot object), in parts."""
    with body.open() as f:
        header = _read_header(f)
    if "warehouse_id" not in header or "as_of" not in header:
        raise PayloadError("missing warehouse_id or as_of", where="$", kind="validation")
    header.setdefault("supplier_id", ctx.supplier_id)
    template = convert_document({**header, "items": []}, ctx.kind, "$")
    assert isinstance(template, InventorySnapshot)
    part: list[InventoryItem] = []
    with body.open() as f:
        try:
            for i, raw in enumerate(ijson.items(f, "items.item", use_float=True)):
                part.append(_item(raw, i))
                if len(part) >= ctx.max_items_per_part:
                    yield msgspec.structs.replace(template, items=part)
                    part = []
        except ijson.JSONError as exc:
            raise PayloadError(f"invalid JSON: {exc}", where="$.items") from exc
    if part or template.items == []:
        yield msgspec.structs.replace(template, items=part)


def _item(raw: Any, index: int) -> InventoryItem:
    try:
        return msgspec.convert(raw, InventoryItem, strict=False)
    except msgspec.ValidationError as exc:
        where = validation_where(exc, f"$.items[{index}].")
        raise PayloadError(f"invalid item: {exc}", where=where, kind="validation") from exc


def _read_header(f: IO[bytes]) -> dict[str, Any]:
    """Root-level scalar fields, read without building the items array.

    The items array is skipped when the fields before it are the usual ones and the end of
    the payload names no header field still missing: a version (``issued_at``,
    ``control_number``) written after the items must not be lost, since every part of the
    snapshot is stamped with it before the items are read.
    """
    header: dict[str, Any] = {}
    try:
        for prefix, event, value in ijson.parse(f, use_float=True):
            if prefix in _HEADER_KEYS and event in ("string", "number"):
                header[prefix] = value
            elif (
                prefix == "items"
                and event == "start_array"
                and len(header) >= 3
                and not _named_at_the_end(f, header)
            ):
                break  # every header field seen: no need to scan the items
    except ijson.JSONError as exc:
        raise PayloadError(f"invalid JSON: {exc}", where="$") from exc
    return header


def _named_at_the_end(f: IO[bytes], header: dict[str, Any]) -> bool:
    """Whether the payload's last bytes hold a header field not yet read (a cheap test
    that saves a scan of every item in the common layout: header first)."""
    missing = [key for key in _HEADER_KEYS if key not in header and key != "codes"]
    if not missing:
        return False
    position = f.tell()
    try:
        f.seek(max(f.seek(0, 2) - _TAIL_BYTES, 0))
        tail = f.read()
    finally:
        f.seek(position)
    return any(f'"{key}"'.encode() in tail for key in missing)
