"""The registered EDIFACT decoder: ``decode(body, ctx) -> Iterator[Document]``.

Each UNH message is dispatched on its S009 message type: ORDRSP -> PoAck, DESADV ->
ShipNotice, INVRPT -> InventorySnapshot. A message of any other type, or of a type that
is not the feed's ``ctx.kind``, raises ``PayloadError(kind="kind_mismatch")`` naming its
UNH: a feed configured for ship notices that receives an order response is a
configuration or supplier error, not something to skip silently.

A spooled (large) body is read as a stream; a small one from memory. Every exception
that leaves ``decode`` is a :class:`~supplyfeed.PayloadError`; anything else is converted
here, once, with the original chained.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO, Final

from ..._exceptions import PayloadError
from ..._models import DocKind, Document
from ..base import DecodeContext
from ..body import Body
from .desadv import decode_desadv
from .envelope import Message, messages
from .invrpt import decode_invrpt
from .ordrsp import decode_ordrsp
from .tokenizer import SegmentReader

__all__ = ["MESSAGE_TYPES", "decode"]

_MessageDecoder = Callable[[Message, DecodeContext], Iterator[Document]]

MESSAGE_TYPES: Final[dict[DocKind, str]] = {
    DocKind.PO_ACK: "ORDRSP",
    DocKind.SHIP_NOTICE: "DESADV",
    DocKind.INVENTORY_SNAPSHOT: "INVRPT",
}
_DECODERS: Final[dict[str, _MessageDecoder]] = {
    "ORDRSP": decode_ordrsp,
    "DESADV": decode_desadv,
    "INVRPT": decode_invrpt,
}


def decode(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    """Canonical documents from an EDIFACT interchange, as they are read."""
    try:
        if body.spooled:
            with body.open() as stream:
                yield from _decode_source(stream, ctx)
        else:
            yield from _decode_source(body.read(), ctx)
    except PayloadError:
        raise
    except Exception as exc:  # a bug or an unforeseen input: still a typed payload error
        raise PayloadError(f"EDIFACT decoding failed: {exc!r}", kind="syntax") from exc


def _decode_source(source: bytes | BinaryIO, ctx: DecodeContext) -> Iterator[Document]:
    reader = SegmentReader(source)
    for warning in reader.warnings:
        ctx.warn(warning)
    seen = len(reader.warnings)
    expected = MESSAGE_TYPES[ctx.kind]
    for message in messages(reader, ctx):
        if message.type != expected:
            raise PayloadError(
                f"message type {message.type or 'none'!r} is not {expected}, "
                f"the message of a {ctx.kind.value} feed",
                where=message.header.where,
                kind="kind_mismatch",
            )
        yield from _DECODERS[expected](message, ctx)
    for warning in reader.warnings[seen:]:
        ctx.warn(warning)
