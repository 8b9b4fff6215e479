"""Canonical CSV: the shape the CSV decoder reads without a mapping.

A header row, then one row per line item; the columns are the document's header fields
followed by its line fields, by canonical name. An empty cell is null. A document with
no lines is one row whose line cells are empty. ``supplier_id`` is not a column: a CSV
feed's supplier comes from the feeds file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from typing import Final

from ..._models import DocKind, Document, InventorySnapshot

__all__ = ["COLUMNS", "corrupt", "render"]

_HEADER_FIELDS: Final[dict[DocKind, tuple[str, ...]]] = {
    DocKind.INVENTORY_SNAPSHOT: ("warehouse_id", "as_of", "issued_at", "control_number"),
    DocKind.PO_ACK: ("po_number", "ack_number", "ack_date", "status", "issued_at"),
    DocKind.SHIP_NOTICE: (
        "asn_number",
        "ship_date",
        "expected_delivery",
        "carrier",
        "tracking_number",
        "ship_from",
        "ship_to",
        "issued_at",
    ),
}
_LINE_FIELDS: Final[dict[DocKind, tuple[str, ...]]] = {
    DocKind.INVENTORY_SNAPSHOT: ("sku", "on_hand", "available", "uom"),
    DocKind.PO_ACK: (
        "line_number",
        "sku",
        "ordered_qty",
        "acked_qty",
        "uom",
        "unit_price",
        "line_status",
        "promised_date",
    ),
    DocKind.SHIP_NOTICE: (
        "line_seq",
        "po_number",
        "po_line_number",
        "sku",
        "shipped_qty",
        "uom",
        "container_id",
        "lot",
    ),
}
COLUMNS: Final[dict[DocKind, tuple[str, ...]]] = {
    kind: _HEADER_FIELDS[kind] + _LINE_FIELDS[kind] for kind in DocKind
}


def render(docs: Sequence[Document], kind: DocKind, *, seed: int = 0) -> bytes:
    """``docs`` (all of ``kind``) as canonical CSV, CRLF line ends (RFC 4180)."""
    del seed
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS[kind])
    for doc in docs:
        writer.writerows(_rows(doc, kind))
    return out.getvalue().encode("utf-8")


def _rows(doc: Document, kind: DocKind) -> Iterator[list[str]]:
    header = [_cell(name, getattr(doc, name)) for name in _HEADER_FIELDS[kind]]
    lines: Sequence[object] = doc.items if isinstance(doc, InventorySnapshot) else doc.lines
    if not lines:
        yield header + [""] * len(_LINE_FIELDS[kind])
        return
    for line in lines:
        yield header + [_cell(name, getattr(line, name)) for name in _LINE_FIELDS[kind]]


def _cell(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if name == "unit_price" and isinstance(value, float):
        return f"{value:.2f}"  # prices: always two decimals, as suppliers print them
    return str(value)


def corrupt(body: bytes) -> bytes:
    """Invalid UTF-8 in the header and a non-numeric quantity in the first row.

    Either one alone must make a strict decoder fail; both together leave no lenient
    reading that could load the file as if nothing were wrong.
    """
    header, _, rest = body.partition(b"\r\n")
    first, _, tail = rest.partition(b"\r\n")
    cells = first.split(b",")
    numeric = next((i for i, c in enumerate(cells) if c.isdigit()), len(cells) - 1)
    if cells and cells != [b""]:
        cells[numeric] = b"12\xe2\x80x"
    return header + b"\xff\xfe\r\n" + b",".join(cells) + b"\r\n" + tail
