"""``supplyfeed decode FILE``: one local file to canonical JSON lines.

The kind comes from ``--kind``, else from the envelope (``_formats/envelope_kind.py``);
only JSON, CSV and plain XML, which have none, fall back to a guess over their first
bytes. Nothing is printed until the whole file has decoded: an interchange refused at its
trailer (IEA02 != ISA13) must not leave half its documents on stdout looking valid. The
lines wait in a spooled temporary file (in memory up to 8 MiB, then on disk), so a large
file is decoded once and never held whole in memory.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import IO

import msgspec

from .._exceptions import ConfigError, PayloadError
from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.detect import guess_kind
from .._formats.envelope_kind import declared_kind
from .._formats.registry import get_decoder, sniff_format
from .._models import DocKind
from .pipes import copy_to_stdout

__all__ = ["decode_file", "infer_kind"]

_IN_MEMORY = 8 * 1024 * 1024  # decoded lines held in memory before spilling to disk


class _Unsupported(Exception):
    """The envelope names a document type supplyfeed does not decode."""


def infer_kind(head: bytes) -> DocKind:
    """A guess for formats without an envelope (JSON, CSV, plain XML): their field names."""
    kind = guess_kind(head)
    if kind is None:
        raise ConfigError("cannot tell the document kind from the file: pass --kind", key="kind")
    return kind


def decode_file(path: Path, fmt: str | None, kind: str | None, supplier: str) -> int:
    """Print the file's documents as JSON lines; exit status 0, or 1 with a typed error."""
    try:
        body = Body(path=path)
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    with tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY) as lines:
        try:
            ctx = _decode_into(lines, body, fmt, kind, supplier)
        except _Unsupported as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 1
        except PayloadError as exc:
            where = f" at {exc.where}" if exc.where else ""
            print(
                f"error: {path}: payload_error[{exc.kind}]{where}: {exc.message}", file=sys.stderr
            )
            return 1
        lines.seek(0)
        copy_to_stdout(lines)
    for warning in ctx.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _decode_into(
    lines: IO[bytes], body: Body, fmt: str | None, kind: str | None, supplier: str
) -> DecodeContext:
    fmt = fmt or sniff_format(body.head(65536))
    ctx = DecodeContext(kind=_kind(body, fmt, kind), supplier_id=supplier)
    encoder = msgspec.json.Encoder()
    for doc in get_decoder(fmt)(body, ctx):
        lines.write(encoder.encode(doc) + b"\n")
    return ctx


def _kind(body: Body, fmt: str, kind: str | None) -> DocKind:
    if kind:
        return DocKind(kind)
    declared = declared_kind(fmt, body)
    if declared is None:
        return infer_kind(body.head(65536))
    if declared.kind is None:
        raise _Unsupported(declared.unsupported())
    return declared.kind
