"""Format name -> decoder. Adding a format is one module and one line in ``_DECODERS``.

Decoders are imported on first use, so a format's dependencies cost nothing to a run that
does not read it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from .._exceptions import ConfigError, PayloadError
from .._failpoints import failpoint

if TYPE_CHECKING:  # the CLI's parser reads FORMATS: nothing heavier at import
    from .._models import Document
    from .base import DecodeContext, Decoder
    from .body import Body

__all__ = ["FORMATS", "decode_payload", "get_decoder", "sniff_format"]

_DECODERS: dict[str, str] = {
    "json": "supplyfeed._formats.json_docs:decode",
    "csv": "supplyfeed._formats.csv_rows:decode",
    "x12": "supplyfeed._formats.x12.documents:decode",
    "edifact": "supplyfeed._formats.edifact.documents:decode",
    "cxml": "supplyfeed._formats.cxml:decode",
    "xml": "supplyfeed._formats.xml_mapped:decode",
}

FORMATS: frozenset[str] = frozenset(_DECODERS)
_loaded: dict[str, Decoder] = {}


def get_decoder(fmt: str) -> Decoder:
    """The decoder registered for ``fmt``; ``ConfigError`` for an unknown name."""
    decoder = _loaded.get(fmt)
    if decoder is not None:
        return decoder
    try:
        target = _DECODERS[fmt]
    except KeyError:
        known = ", ".join(sorted(_DECODERS))
        raise ConfigError(f"unknown format {fmt!r} (known: {known})", key="format") from None
    module_name, _, attr = target.partition(":")
    decoder = cast("Decoder", getattr(importlib.import_module(module_name), attr))
    _loaded[fmt] = decoder
    return decoder


def decode_payload(fmt: str, body: Body, ctx: DecodeContext) -> Iterator[Document]:
    """Decode ``body`` as ``fmt``. A module-level function, so that
    ``functools.partial(decode_payload, fmt, body, ctx)`` can cross to a worker process."""
    failpoint("decode")
    return get_decoder(fmt)(body, ctx)


def sniff_format(head: bytes) -> str:
    """Guess a payload's format from its first bytes; ``PayloadError`` when it cannot."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"ISA"):
        return "x12"
    if text.startswith((b"UNA", b"UNB")):
        return "edifact"
    if text.startswith(b"<"):
        return "cxml" if b"<cXML" in head or b"cXML.dtd" in head else "xml"
    if text.startswith((b"{", b"[")):
        return "json"
    first_line = text.split(b"\n", 1)[0]
    if b"," in first_line or b";" in first_line:
        return "csv"
    raise PayloadError("cannot tell the format from the first bytes", where="byte 0")
