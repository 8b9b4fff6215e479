"""Rows as the text format of PostgreSQL's ``COPY … FROM STDIN``.

The PostgreSQL sink ships every canonical row this way: the server parses the text into
the column types (ISO dates and timestamps, numbers, JSON), which costs it a little more
than the binary format, but the client only joins strings, where asyncpg's binary
encoder spends ~3 µs a row (a ``Decimal`` per numeric value), which made the client the
bottleneck.

The format: one line per row, fields separated by tabs, ``\\N`` for NULL, and a backslash
escape for backslash, tab, newline and carriage return inside a value. Values are
``str()`` of what the row builders of :mod:`.schema` produce (text, int, float, ISO text);
the server refuses what its column type cannot parse (a :class:`asyncpg.DataError`).

Escaping every value costs as much as formatting it, and almost no value needs it, so
:func:`copy_text` formats without escaping and then proves that nothing needed it: a
row's fields can only add tabs, newlines and backslashes to the ones the format puts
there, so counting them over the whole text (C-speed scans) is exact. Otherwise it
formats again, escaping every value.

Inventory items, the bulk of what suppliers send, have a builder of their own
(:func:`inventory_text`): one f-string per item straight from the document, checked the
same way, and the same bytes as the general path, at half the cost.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, Final

from .._models import InventorySnapshot, document_key
from .schema import Provenance, Row, codes_text, line_rows, timestamp_text

__all__ = ["copy_text", "inventory_text"]

NULL: Final = "\\N"
_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_AVAILABLE: Final = operator.attrgetter("available")
_UOM: Final = operator.attrgetter("uom")
_CODES: Final = operator.attrgetter("codes")
_INVENTORY_COLUMNS: Final = 14


def copy_text(rows: Sequence[Row]) -> bytes:
    """``rows`` as COPY text, UTF-8 encoded. Raises ``UnicodeEncodeError`` (a
    ``ValueError``) for text no encoding takes (lone surrogates)."""
    if not rows:
        return b""
    text = "\n".join(["\t".join([NULL if v is None else str(v) for v in row]) for row in rows])
    text += "\n"
    if not _needs_no_escape(text, rows):
        text = "".join([_escaped_line(row) for row in rows])
    return text.encode()


def _needs_no_escape(text: str, rows: Sequence[Row]) -> bool:
    """Whether ``text`` (formatted without escapes) holds exactly the format's own tabs,
    newlines and backslashes: one backslash per NULL, and no carriage return."""
    fields = sum(map(len, rows))
    nulls = sum([row.count(None) for row in rows])
    return (
        text.count("\t") == fields - len(rows)
        and text.count("\n") == len(rows)
        and text.count("\\") == nulls
        and "\r" not in text
    )


def _field(value: Any) -> str:
    return NULL if value is None else str(value).translate(_ESCAPES)


def _escaped_line(row: Row) -> str:
    return "\t".join([_field(v) for v in row]) + "\n"


def _constant(value: object) -> str:
    return NULL if value is None else str(value)


def inventory_text(doc: InventorySnapshot, prov: Provenance) -> bytes:
    """``copy_text(line_rows(doc, prov)["inventory_positions"])``, built straight from the
    items. The fields that are the same for the whole document are formatted once; a
    value the format reserves, or a None where the f-string writes ``None`` (sku,
    on_hand), sends the document down the general path."""
    items = doc.items
    if not items:
        return b""
    sup, wh, as_of = document_key(doc)
    head = "\t".join(map(_constant, (sup, wh, as_of))) + "\t"
    # The provenance, then the part's version: the same for every item.
    shared = (*prov, timestamp_text(doc.issued_at), doc.control_number)
    tail = "\t" + "\t".join(map(_constant, shared)) + "\n"
    n = NULL
    text = "".join(
        [
            f"{head}{i.sku!s}\t{i.on_hand!s}\t{n if i.available is None else i.available!s}\t"
            f"{n if i.uom is None else i.uom!s}\t{codes_text(i.codes) if i.codes else n}{tail}"
            for i in items
        ]
    )
    rows = len(items)
    nulls = (
        list(map(_AVAILABLE, items)).count(None)
        + list(map(_UOM, items)).count(None)
        + rows
        - sum(map(bool, map(_CODES, items)))
        + rows * sum(v is None for v in (sup, wh, as_of, *shared))
    )
    if (
        text.count("\t") == rows * (_INVENTORY_COLUMNS - 1)
        and text.count("\n") == rows
        and text.count("\\") == nulls
        and "\r" not in text
        and "None" not in text
    ):
        return text.encode()
    return copy_text(line_rows(doc, prov)["inventory_positions"])
