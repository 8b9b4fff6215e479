"""The registered X12 decoder: payload → canonical documents, by transaction set.

ST01 picks the mapper: 855 → :class:`PoAck`, 856 → :class:`ShipNotice`, 846 →
:class:`InventorySnapshot`. A transaction set that is not of the feed's kind (``ctx.kind``)
is a ``PayloadError(kind="kind_mismatch")``: a supplier that sends ASNs to the inventory
URL has a misconfigured endpoint, and mapping them anyway would load them nowhere.

Spooled (large) bodies are read as a stream in chunks; small ones in one piece. This is
the boundary of the X12 package: any exception other than ``PayloadError`` escaping the
mappers is converted here, so the caller only ever sees ``PayloadError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from ..._exceptions import PayloadError
from ..._models import DocKind, Document
from ..base import DecodeContext
from ..body import Body
from .envelope import Transaction, read_transactions
from .inventory_846 import map_846
from .po_ack_855 import map_855
from .ship_notice_856 import map_856
from .tokenizer import Chunk, iter_pieces, iter_text_pieces

__all__ = ["SET_KINDS", "decode"]

SET_KINDS: Final[dict[str, DocKind]] = {
    "855": DocKind.PO_ACK,
    "856": DocKind.SHIP_NOTICE,
    "846": DocKind.INVENTORY_SNAPSHOT,
}

_Mapper = Callable[[Transaction, DecodeContext], Iterator[Document]]
_MAPPERS: Final[dict[str, _Mapper]] = {"855": map_855, "856": map_856, "846": map_846}


def decode(body: Body, ctx: DecodeContext) -> Iterator[Document]:
    """Canonical documents of an X12 payload; only ``PayloadError`` escapes."""
    try:
        if body.spooled:
            with body.open() as stream:
                _, chunks = iter_pieces(stream)
                yield from decode_chunks(chunks, ctx)
        else:
            _, chunks = iter_text_pieces(body.read())
            yield from decode_chunks(chunks, ctx)
    except PayloadError:
        raise
    except Exception as exc:  # the boundary: a bug or an unforeseen input, never a crash
        raise PayloadError(
            f"X12 payload could not be decoded: {type(exc).__name__}: {exc}", kind="syntax"
        ) from exc


def decode_chunks(chunks: Iterable[Chunk], ctx: DecodeContext) -> Iterator[Document]:
    """Documents of already tokenized segments, given a chunk at a time."""
    for txn in read_transactions(chunks, ctx):
        mapper = _MAPPERS.get(txn.set_id)
        kind = SET_KINDS.get(txn.set_id)
        if mapper is None or kind != ctx.kind:
            what = f"a {kind.value}" if kind is not None else "an unsupported set"
            raise PayloadError(
                f"transaction set {txn.set_id!r} is {what}; the feed expects {ctx.kind.value}",
                where=f"segment {txn.position} (ST)",
                kind="kind_mismatch",
            )
        yield from mapper(txn, ctx)
