"""The decoder contract shared by every format module.

A decoder is a plain callable ``(Body, DecodeContext) -> Iterator[Document]``. It yields
canonical documents as it reads, so a large payload never has to be held whole: a
streaming decoder yields an inventory snapshot in parts of at most
``ctx.max_items_per_part`` items, all with the same header (the sink treats consecutive
parts with one natural key as one document). Any problem with the bytes is raised as
:class:`~supplyfeed.PayloadError` naming where it occurred; any other exception escaping a
decoder is a bug, and the fuzz tests look for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from .._config import FieldMapping
from .._models import DocKind, Document
from .._pickling import field_getter
from .body import Body

FastPaths: TypeAlias = Literal["all", "segments", "items", "none"]

__all__ = ["DecodeContext", "Decoder", "FastPaths"]


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What a decoder knows besides the bytes."""

    kind: DocKind
    supplier_id: str = ""
    mapping: FieldMapping | None = None
    envelope_policy: Literal["strict", "warn"] = "strict"
    max_items_per_part: int = 10_000
    warnings: list[str] = field(default_factory=list)
    # Which fast paths a decoder may take (the X12 846's, see x12/_fast846.py): "all";
    # "segments" (not from unsplit text); "items" (one common item at a time); "none".
    # Every setting decodes to the same documents, warnings and errors; tests compare them.
    fast_paths: FastPaths = "all"

    def warn(self, message: str) -> None:
        """Record a non-fatal finding (for example an envelope count mismatch under 'warn')."""
        self.warnings.append(message)

    def __reduce__(self) -> tuple[type[DecodeContext], tuple[Any, ...]]:  # _pickling.py
        return (DecodeContext, _CONTEXT_FIELDS(self))


_CONTEXT_FIELDS: Final = field_getter(DecodeContext)


Decoder: TypeAlias = Callable[[Body, DecodeContext], Iterator[Document]]
