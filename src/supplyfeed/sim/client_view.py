"""What a client reads from an endpoint: its served bytes decoded by supplyfeed's own
decoders, for the endpoints whose ground truth turns on a version or a hash.

The rows a fleet must end with come from the generated documents, but a version can
come from the envelope a renderer writes (an X12 ISA13, an EDIFACT UNB05) and a conflict
is won by the hash of the decoded line (``codes`` included): where documents meet,
the truth must see them as the client does. Elsewhere (every natural key served once,
as in a generated fleet) the generated documents are the truth, and nothing is decoded.
A decoded endpoint must yield the rows of the generated one, or the renderer and the
decoder disagree and the truth would be wrong: that is a ``ValueError`` here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.registry import decode_payload
from .._models import Document, document_key
from .fleet_spec import EndpointSpec, table_keys
from .render import get_mapping
from .truth import View

__all__ = ["decoded_view", "meeting_endpoints"]

Bodies = Callable[[EndpointSpec, int], bytes]


def meeting_endpoints(endpoints: Iterable[EndpointSpec]) -> set[tuple[int, str]]:
    """``(host, path)`` of the endpoints whose documents meet others of their key (in
    another endpoint, in the same body, or in another poll round of the same one)."""
    eps = list(endpoints)
    keys: Counter[tuple[object, ...]] = Counter()
    for ep in eps:
        for doc in ep.documents:
            keys[(type(doc).__name__, *document_key(doc))] += 1
    return {
        (ep.host, ep.path)
        for ep in eps
        if ep.revisions
        or any(keys[(type(doc).__name__, *document_key(doc))] > 1 for doc in ep.documents)
    }


def decoded_view(bodies: Bodies, decode: set[tuple[int, str]]) -> View:
    """A truth view: the endpoints of ``decode`` (by host and path) as decoded from
    ``bodies(ep, round)``, the others as generated."""
    cache: dict[tuple[int, str, int], tuple[Document, ...]] = {}

    def view(ep: EndpointSpec, round_: int) -> tuple[Document, ...]:
        if (ep.host, ep.path) not in decode:
            return ep.documents_at(round_)
        slot = (ep.host, ep.path, min(round_, ep.rounds - 1))
        if slot not in cache:
            cache[slot] = _decoded(ep, round_, bodies(ep, round_))
        return cache[slot]

    return view


def _decoded(ep: EndpointSpec, round_: int, body: bytes) -> tuple[Document, ...]:
    ctx = DecodeContext(
        kind=ep.kind, supplier_id=ep.supplier_id, mapping=get_mapping(ep.format, ep.kind)
    )
    docs = tuple(decode_payload(ep.format, Body.from_bytes(body), ctx))
    served = ep.documents_at(round_)
    if _rows(docs) != _rows(served):
        raise ValueError(
            f"{ep.path} round {round_}: the {ep.format} decoder does not read back the rows "
            "the renderer wrote; the ground truth would be wrong"
        )
    return docs


def _rows(docs: Iterable[Document]) -> Counter[tuple[str, tuple[object, ...]]]:
    return Counter(row for doc in docs for row in table_keys(doc))
