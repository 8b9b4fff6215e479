"""The load semantics every sink shares, so that SQLite, PostgreSQL and the in-memory fake
cannot drift apart: guarding the decoder, grouping parts into documents, the
replace/skip/stale decision and the final ledger rows."""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import groupby
from typing import Final

from .._exceptions import PayloadError
from .._formats.body import Body
from .._models import Document, document_key
from .base import DeadLetter, Endpoint, EndpointRecord, LoadUnit, Outcome
from .schema import DOC_SPECS, DocSpec, Version, version_key

__all__ = [
    "DEAD_LETTER_INLINE_MAX",
    "Decision",
    "StoredDoc",
    "UnitStats",
    "decide",
    "group_documents",
    "guarded",
    "is_known_quarantine",
    "is_stale_version",
    "loaded_record",
    "quarantined_record",
    "replay_unit",
]

# Dead letters larger than this are spooled to a file beside the database.
DEAD_LETTER_INLINE_MAX = 1 << 20


def guarded(documents: Callable[[], Iterator[Document]]) -> Iterator[Document]:
    """Iterate a decoder, turning any exception other than PayloadError into a PayloadError
    of kind ``decoder_bug``: a bug in a decoder must quarantine the payload, never lose it
    or abort the other units of the transaction."""
    try:
        yield from documents()
    except PayloadError:
        raise
    except Exception as exc:
        summary = "".join(traceback.format_exception(exc, limit=-3)).strip()
        raise PayloadError(
            f"decoder raised {type(exc).__name__}: {exc}\n{summary}", kind="decoder_bug"
        ) from exc


def group_documents(
    docs: Iterator[Document],
) -> Iterator[tuple[DocSpec, tuple[str, ...], Iterator[Document]]]:
    """Consecutive parts with one natural key form one document; the parts are yielded
    lazily, so a streamed snapshot is never held whole."""
    for (doc_type, key), parts in groupby(docs, key=lambda d: (type(d), document_key(d))):
        yield DOC_SPECS[doc_type], key, parts


class Decision(Enum):
    WRITE = "write"
    UNCHANGED = "unchanged"  # same content hash: nothing is written, provenance stays
    STALE = "stale"  # an older version, or the losing hash of an equal version


@dataclass(frozen=True, slots=True)
class StoredDoc:
    version: Version
    content_hash: str


def decide(stored: StoredDoc | None, version: Version, content_hash: str) -> Decision:
    """Whether an incoming document replaces the stored one (see the sink base docstring)."""
    if stored is None:
        return Decision.WRITE
    if content_hash == stored.content_hash:
        return Decision.UNCHANGED
    ours, theirs = version_key(version), version_key(stored.version)
    if ours < theirs or (ours == theirs and content_hash < stored.content_hash):
        return Decision.STALE
    return Decision.WRITE


def is_stale_version(stored: StoredDoc | None, version: Version) -> bool:
    """A strictly older version: known stale before a streamed document's hash is known."""
    return stored is not None and version_key(version) < version_key(stored.version)


@dataclass(slots=True)
class UnitStats:
    """What one unit's decode produced. ``records`` counts line rows (inventory items,
    ack lines, ASN lines) decoded, whether written, unchanged or stale."""

    records: int = 0
    documents: int = 0
    stale_documents: int = 0


def loaded_record(unit: LoadUnit, stats: UnitStats) -> EndpointRecord:
    return dataclasses.replace(
        unit.record,
        outcome=Outcome.LOADED,
        error_kind=None,
        error_message=None,
        permanent=False,
        bytes=unit.body.size,
        records=stats.records,
        documents=stats.documents,
        stale_documents=stats.stale_documents,
    )


_KNOWN_LETTER: Final = " [same bytes as open dead letter "


def quarantined_record(
    unit: LoadUnit, error: PayloadError, known_letter: int | None = None
) -> EndpointRecord:
    """``known_letter``: the open dead letter that already holds these bytes (a sighting
    was added to it), named in the message so the ledger tells old breakage from new."""
    message = str(error)
    if known_letter is not None:
        message += f"{_KNOWN_LETTER}{known_letter}]"
    return dataclasses.replace(
        unit.record,
        outcome=Outcome.QUARANTINED,
        error_kind=error.kind,
        error_message=message,
        permanent=True,
        bytes=unit.body.size,
        records=0,
        documents=0,
        stale_documents=0,
    )


def is_known_quarantine(record: EndpointRecord) -> bool:
    """A quarantine of bytes an open dead letter already held (see quarantined_record)."""
    return record.outcome is Outcome.QUARANTINED and _KNOWN_LETTER in (record.error_message or "")


def replay_unit(
    letter: DeadLetter,
    stored: EndpointRecord | None,
    documents: Callable[[Body], Iterator[Document]],
) -> LoadUnit:
    """The unit that re-loads a dead letter with its original provenance (run, URL,
    request id), keeping the rest of the endpoint's ledger row (attempts, timings)."""
    endpoint = Endpoint(
        letter.endpoint_key, letter.supplier_id, letter.kind, letter.format, letter.url
    )
    record = stored if stored is not None else EndpointRecord(endpoint, Outcome.QUARANTINED)
    record.endpoint = endpoint
    record.request_id = letter.request_id
    body = letter.body
    return LoadUnit(letter.run_id, record, body, lambda: documents(body))
