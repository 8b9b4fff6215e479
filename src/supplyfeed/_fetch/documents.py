"""Fetched bodies decoded to canonical documents, in any supported format.

``AsyncBatchIngestor.fetch_documents(urls)`` (and ``fetch_feed_batch(urls, format=...)``)
decode each body with the format's own decoder: X12, EDIFACT, cXML, JSON, CSV or mapped
XML. ``format=None`` ("auto") tells it from the first bytes; ``kind=None`` takes it from
the envelope, else from the field names (``_formats/detect.py``). A body that cannot be
decoded is a ``payload`` failure like any other, with the decoder's reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._config import FieldMapping
from .._exceptions import PayloadError
from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.registry import get_decoder, sniff_format
from .._models import DocKind, Document

__all__ = ["DecodedPayload", "DocumentParser", "FeedDocuments"]


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    """One body's documents, with the format and kind they were read as."""

    format: str
    kind: DocKind
    documents: tuple[Document, ...]
    warnings: tuple[str, ...] = ()  # non-fatal findings (an envelope count under "warn")


@dataclass(frozen=True, slots=True)
class FeedDocuments:
    """One URL that succeeded, paired with what its body decoded to."""

    url: str
    request_id: str
    status: int
    format: str
    kind: DocKind
    documents: tuple[Document, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentParser:
    """A ``fetch_feed_batch`` parser: ``Body -> DecodedPayload`` (raises ``PayloadError``)."""

    format: str | None = None  # None or "auto": from the first bytes
    kind: DocKind | None = None  # None: from the envelope, else the field names
    supplier_id: str = ""  # for documents that name none (JSON, CSV)
    mapping: FieldMapping | None = None  # non-canonical JSON, CSV or XML

    def __call__(self, body: Body) -> DecodedPayload:
        # Here, not at the top: the CLI decodes in the SQLite worker, and the fetching
        # process then never loads the envelope readers (about 28 ms of imports).
        from .._formats.detect import HEAD_BYTES, payload_kind

        fmt = self.format if self.format not in (None, "auto") else None
        fmt = fmt or sniff_format(body.head(HEAD_BYTES))
        decoder = get_decoder(fmt)  # an unknown name is a ConfigError before any fetch
        if fmt == "xml" and self.mapping is None:  # say so before guessing at its kind
            raise PayloadError(
                "generic XML needs mapping= (a FieldMapping: records, fields, constants); "
                "only cXML decodes without one",
                where="mapping",
                kind="mapping",
            )
        kind = self.kind or payload_kind(fmt, body)
        ctx = DecodeContext(kind=kind, supplier_id=self.supplier_id, mapping=self.mapping)
        documents = tuple(decoder(body, ctx))
        return DecodedPayload(fmt, kind, documents, tuple(ctx.warnings))

    def check(self) -> None:
        """Refuse an unknown format name before anything is fetched."""
        if self.format not in (None, "auto"):
            get_decoder(self.format)
