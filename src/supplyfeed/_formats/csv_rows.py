"""CSV: one row per line item, with the document's header fields repeated on each row.

Without a mapping the columns carry canonical names (see README, "CSV feeds"); with a
mapping, ``fields`` maps canonical names to column names. Rows with the same document key
form one document. ``csv.reader`` is used rather than ``DictReader`` (about 2x faster).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from .._config import FieldMapping
from .._exceptions import PayloadError
from .._models import Document
from .base import DecodeContext
from .body import Body
from .mapping import build_documents

__all__ = ["decode"]


def decode(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    with body.open() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        try:
            yield from build_documents(_records(text, ctx.mapping), ctx)
        except UnicodeDecodeError as exc:
            raise PayloadError(f"not UTF-8 text: {exc.reason}", where="byte stream") from exc
        except csv.Error as exc:
            raise PayloadError(f"malformed CSV: {exc}", where="csv") from exc


def _records(
    text: io.TextIOWrapper, mapping: FieldMapping | None
) -> Iterator[tuple[str, Callable[[str], Any]]]:
    first_line = text.readline()
    text.seek(0)
    # European exports often use ';' (with ',' as the decimal mark); the header decides.
    reader = csv.reader(
        text, delimiter=";" if first_line.count(";") > first_line.count(",") else ","
    )
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise PayloadError("empty CSV: no header row", where="line 1") from None
    columns = {name: i for i, name in enumerate(header)}
    if mapping is not None:
        columns = _mapped_columns(columns, mapping)
    constants = dict(mapping.constants) if mapping is not None else {}
    width = len(header)
    for lineno, row in enumerate(reader, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            raise PayloadError(
                f"expected {width} columns, found {len(row)}",
                where=f"line {lineno}",
                kind="syntax",
            )
        yield f"line {lineno}", _getter(row, columns, constants)


def _mapped_columns(columns: dict[str, int], mapping: FieldMapping) -> dict[str, int]:
    mapped: dict[str, int] = {}
    for canonical, source in mapping.fields.items():
        if source not in columns:
            raise PayloadError(
                f"mapped column {source!r} (for {canonical}) is not in the header",
                where="line 1",
                kind="validation",
            )
        mapped[canonical] = columns[source]
    return mapped


def _getter(
    row: list[str], columns: dict[str, int], constants: dict[str, str]
) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        i = columns.get(name)
        if i is None:
            return constants.get(name)
        return row[i]

    return get
