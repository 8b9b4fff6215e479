"""``supplyfeed decode FILE``: one local file to canonical JSON lines."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import msgspec

from .._exceptions import ConfigError, PayloadError
from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.registry import get_decoder, sniff_format
from .._models import DocKind

__all__ = ["decode_file", "infer_kind"]

_KIND_MARKERS: list[tuple[DocKind, re.Pattern[bytes]]] = [
    (DocKind.PO_ACK, re.compile(rb"ST.855|ORDRSP|ConfirmationRequest|\"ack_number\"|ack_number")),
    (DocKind.SHIP_NOTICE, re.compile(rb"ST.856|DESADV|ShipNoticeRequest|asn_number")),
    (
        DocKind.INVENTORY_SNAPSHOT,
        re.compile(rb"ST.846|INVRPT|ProductActivityMessage|\"items\"|on_hand"),
    ),
]


def infer_kind(head: bytes) -> DocKind:
    for kind, pattern in _KIND_MARKERS:
        if pattern.search(head):
            return kind
    raise ConfigError("cannot tell the document kind from the file: pass --kind", key="kind")


def decode_file(path: Path, fmt: str | None, kind: str | None, supplier: str) -> int:
    """Print the file's documents as JSON lines; exit status 0, or 1 with a typed error."""
    try:
        body = Body(path=path)
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    head = body.head(65536)
    try:
        fmt = fmt or sniff_format(head)
        doc_kind = DocKind(kind) if kind else infer_kind(head)
        ctx = DecodeContext(kind=doc_kind, supplier_id=supplier)
        encoder = msgspec.json.Encoder()
        out = sys.stdout.buffer
        for doc in get_decoder(fmt)(body, ctx):
            out.write(encoder.encode(doc) + b"\n")
        out.flush()
        for warning in ctx.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    except PayloadError as exc:
        where = f" at {exc.where}" if exc.where else ""
        print(f"error: {path}: payload_error[{exc.kind}]{where}: {exc.message}", file=sys.stderr)
        return 1
    return 0
