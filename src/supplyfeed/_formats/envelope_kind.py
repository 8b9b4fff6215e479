"""The document kind a payload declares in its envelope (``supplyfeed decode``).

X12 names it in ST01 of the first transaction set, EDIFACT in UNH 0065 (the message
type), cXML in the element under ``Request``/``Message``. Only the envelope is read,
through the formats' own tokenizers, so a name such as "855 Main St" in an 856's N1 is
never taken for a transaction set. JSON, CSV and plain XML have no envelope: the caller
passes ``--kind`` or falls back to its own guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from .._exceptions import PayloadError
from .._models import DocKind
from .body import Body
from .cxml import BATCH_TAG, PAYLOAD_KINDS
from .edifact.documents import MESSAGE_TYPES
from .edifact.tokenizer import SegmentReader
from .safe_xml import iterparse
from .x12.documents import SET_KINDS
from .x12.tokenizer import iter_pieces, segments_of

__all__ = ["Declared", "declared_kind"]

_EDIFACT_KINDS = {message: kind for kind, message in MESSAGE_TYPES.items()}
_PAYLOAD_PARENTS = ("Request", "Message")


@dataclass(frozen=True, slots=True)
class Declared:
    """What the envelope names: its type code, and our kind for it (None: unsupported)."""

    fmt: str
    code: str
    kind: DocKind | None

    def unsupported(self) -> str:
        label = {"x12": "X12 transaction set", "edifact": "EDIFACT message", "cxml": "cXML"}
        known = _SUPPORTED[self.fmt]
        return (
            f"{label[self.fmt]} {self.code} is not supported "
            f"(supported: {', '.join(f'{c} ({k.value})' for c, k in known.items())})"
        )


_SUPPORTED: dict[str, dict[str, DocKind]] = {
    "x12": dict(SET_KINDS),
    "edifact": _EDIFACT_KINDS,
    "cxml": dict(PAYLOAD_KINDS),
}


def declared_kind(fmt: str, body: Body) -> Declared | None:
    """The first document's declared type, or None for a format without an envelope."""
    if fmt not in _SUPPORTED:
        return None
    with body.open() as stream:
        code = _FINDERS[fmt](stream)
    return Declared(fmt, code, _SUPPORTED[fmt].get(code))


def _x12_code(stream: BinaryIO) -> str:
    _, chunks = iter_pieces(stream)
    for chunk in chunks:
        for seg in segments_of(chunk):
            if seg[0] == "ST":
                return seg[1] if len(seg) > 1 else ""
    raise PayloadError("no transaction set (ST) in the interchange", kind="envelope")


def _edifact_code(stream: BinaryIO) -> str:
    for seg in SegmentReader(stream):
        if seg.tag == "UNH":
            return seg.value(2, 1)
    raise PayloadError("no message (UNH) in the interchange", kind="envelope")


def _cxml_code(stream: BinaryIO) -> str:
    path: list[str] = []
    # Depth 4 reaches the payload inside a cXMLBatch; nothing deeper is reported.
    for event, elem in iterparse(stream, max_depth=4):
        if event == "end":
            path.pop()
            continue
        path.append(elem.tag)
        base = 2 if path[0] == BATCH_TAG else 1
        if len(path) == base + 2 and path[base] in _PAYLOAD_PARENTS:
            return str(elem.tag)
    raise PayloadError("no cXML Request or Message payload", kind="envelope")


_FINDERS = {"x12": _x12_code, "edifact": _edifact_code, "cxml": _cxml_code}
