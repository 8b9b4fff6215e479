"""A payload's format and document kind when nobody named them.

The format comes from the first bytes (:func:`~supplyfeed._formats.registry.sniff_format`).
The kind comes from the envelope where the format has one (X12 ST01, EDIFACT UNH, the
cXML payload element: ``envelope_kind.py``); JSON, CSV and plain XML have none, so their
field names decide (:func:`guess_kind`). ``supplyfeed decode`` and
``AsyncBatchIngestor.fetch_documents`` share this.
"""

from __future__ import annotations

import re
from typing import Final

from .._exceptions import PayloadError
from .._models import DocKind
from .body import Body
from .envelope_kind import declared_kind

__all__ = ["HEAD_BYTES", "guess_kind", "payload_kind"]

HEAD_BYTES: Final = 65536  # what the guesses read of a payload
_KIND_MARKERS: Final[list[tuple[DocKind, re.Pattern[bytes]]]] = [
    (DocKind.PO_ACK, re.compile(rb"\"ack_number\"|ack_number")),
    (DocKind.SHIP_NOTICE, re.compile(rb"asn_number")),
    (DocKind.INVENTORY_SNAPSHOT, re.compile(rb"\"items\"|on_hand")),
]


def guess_kind(head: bytes) -> DocKind | None:
    """A guess for formats without an envelope (JSON, CSV, plain XML): their field names."""
    for kind, pattern in _KIND_MARKERS:
        if pattern.search(head):
            return kind
    return None


def payload_kind(fmt: str, body: Body) -> DocKind:
    """The kind ``body`` declares, else the guess; ``PayloadError`` when it is a document
    type supplyfeed does not decode, or when nothing tells."""
    declared = declared_kind(fmt, body)
    if declared is not None:
        if declared.kind is None:
            raise PayloadError(declared.unsupported(), kind="unsupported")
        return declared.kind
    kind = guess_kind(body.head(HEAD_BYTES))
    if kind is None:
        raise PayloadError("cannot tell the document kind: pass kind=", kind="kind")
    return kind
