"""Canonical JSON (docs/contract.md §4): one document is an object, several are an array."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ..._models import DocKind, Document

__all__ = ["corrupt", "render"]

_encoder = msgspec.json.Encoder()


def render(docs: Sequence[Document], kind: DocKind, *, seed: int = 0) -> bytes:
    """``docs`` as canonical JSON. ``kind`` and ``seed`` are unused: JSON has no envelope."""
    del kind, seed
    if len(docs) == 1:
        return _encoder.encode(docs[0])
    return _encoder.encode(list(docs))


def corrupt(body: bytes) -> bytes:
    """An object cut in the middle of a string: no JSON parser accepts it."""
    return body[: max(1, len(body) // 2)] + b'"\x00'
