"""Suppliers that put document identity to the test (docs/contract.md §6).

Each builder returns endpoints for one host (``host`` 0 unless told), to be combined into
a :class:`~supplyfeed.sim.FleetSpec` (:func:`identity_fleet` makes one of them all):

- :func:`split_snapshot`: one warehouse's inventory at one ``as_of`` over ``parts``
  endpoints, one per product line, in any format with inventory. ``overlap``: the lines
  share no SKU (``disjoint``), share some with equal values (``equal``), or with other
  quantities (``conflict``: a conflict wherever the parts' versions are equal). Served by
  an :class:`~supplyfeed.sim.SftpDrop` they are the files of one folder: a snapshot split
  across drop files.
- :func:`paged_snapshot`: one warehouse over ``Link: rel="next"`` pages (JSON), one part a
  page; round 1 shifts the page boundaries, round 2 reports fewer SKUs on fewer pages.
- :func:`corrected_snapshot`: round 1 re-delivers the snapshot with the same ``as_of``
  and changed quantities (one SKU gone, one new): ``by="repoll"`` with no version at all
  (the later fetch of the same URL wins), ``by="version"`` with a later ``issued_at`` and
  a higher control number, for the renderers to write where the format has them.
- :func:`duplicate_asns`: one body holding, besides its ship notices, a second ship
  notice with the number of the first and other quantities.

Poll rounds are the fleet's (:meth:`SupplierFleet.advance`); the ground truth of every
round is :meth:`SupplierFleet.expected`, docs/contract.md §6 applied to what was served.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Sequence
from typing import Final, Literal

import msgspec

from .._models import DocKind, Document, InventoryItem, InventorySnapshot, ShipNotice
from .fleet_spec import _EXTENSIONS, EndpointSpec, FleetSpec
from .generate import generate_documents
from .latency import LatencyModel

__all__ = [
    "BOUNDED_FORMATS",
    "Overlap",
    "corrected_snapshot",
    "duplicate_asns",
    "identity_fleet",
    "paged_snapshot",
    "split_snapshot",
]

Overlap = Literal["disjoint", "equal", "conflict"]
_AS_OF: Final = dt.datetime(2026, 11, 28, 7, 45, tzinfo=dt.UTC)
_NO_LATENCY: Final = LatencyModel.none()
_UOMS: Final = ("EA", "EA", "CS", "PK")
BOUNDED_FORMATS: Final = ("json", "x12", "edifact", "cxml")  # a document is more than rows
_SPLITS: Final[tuple[tuple[str, Overlap], ...]] = (
    ("SPLITD", "disjoint"),
    ("SPLITE", "equal"),
    ("SPLITC", "conflict"),
)
_CORRECTIONS: Final[tuple[tuple[str, Literal["repoll", "version"]], ...]] = (
    ("FIXREP", "repoll"),
    ("FIXVER", "version"),
)


def _items(rng: random.Random, prefix: str, start: int, count: int) -> list[InventoryItem]:
    items = []
    for n in range(start, start + count):
        on_hand = rng.randint(0, 900)
        items.append(
            InventoryItem(
                sku=f"{prefix}-{n:05d}",
                on_hand=on_hand,
                available=on_hand - rng.randint(0, on_hand // 3),
                uom=rng.choice(_UOMS),
            )
        )
    return items


def _recount(item: InventoryItem, delta: int) -> InventoryItem:
    """The same SKU reported with other quantities."""
    on_hand = int(item.on_hand) + delta
    return msgspec.structs.replace(item, on_hand=on_hand, available=on_hand)


Version = tuple[dt.datetime | None, str | None]  # (issued_at, control_number)
_NO_VERSION: Final[Version] = (None, None)


def _snapshot(
    supplier: str, warehouse: str, items: list[InventoryItem], version: Version = _NO_VERSION
) -> InventorySnapshot:
    issued_at, control_number = version
    return InventorySnapshot(
        supplier_id=supplier,
        warehouse_id=warehouse,
        as_of=_AS_OF,
        issued_at=issued_at,
        control_number=control_number,
        items=items,
    )


def _endpoint(
    supplier: str,
    name: str,
    fmt: str,
    kind: DocKind,
    docs: Sequence[Document],
    *,
    host: int = 0,
    revisions: Sequence[Sequence[Document]] = (),
    paged: bool = False,
) -> EndpointSpec:
    folder = "inventory" if kind is DocKind.INVENTORY_SNAPSHOT else "asn"
    path = f"/{supplier}/{folder}/{name}.{_EXTENSIONS.get(fmt, fmt)}"
    return EndpointSpec(
        host,
        path,
        supplier,
        kind,
        fmt,
        tuple(docs),
        _NO_LATENCY,
        revisions=tuple(tuple(r) for r in revisions),
        paged=paged,
    )


def split_snapshot(
    supplier: str,
    fmt: str,
    *,
    parts: int = 3,
    items: int = 8,
    overlap: Overlap = "disjoint",
    warehouse: str = "W01",
    host: int = 0,
    seed: int = 0,
) -> tuple[EndpointSpec, ...]:
    """``parts`` endpoints (product lines) of one snapshot; each part after the first
    also reports the first quarter of the previous part's SKUs unless ``disjoint``. All
    parts carry one version (``issued_at`` = ``as_of``, one control number), so that two
    different reports of a SKU are a conflict in every format that writes it."""
    if parts < 1 or items < 1:
        raise ValueError("a split snapshot needs at least one part of one item")
    rng = random.Random(f"{seed}|split|{supplier}|{fmt}|{warehouse}")
    lines = [_items(rng, f"P{k + 1}", 1, items) for k in range(parts)]
    shared = max(1, items // 4)
    version: Version = (_AS_OF, "000000100")
    endpoints = []
    for k, own in enumerate(lines):
        reported = list(own)
        if k and overlap != "disjoint":
            borrowed = lines[k - 1][:shared]
            reported += borrowed if overlap == "equal" else [_recount(i, 1) for i in borrowed]
        doc = _snapshot(supplier, warehouse, reported, version)
        name = f"{warehouse}-line{k + 1}"
        endpoints.append(
            _endpoint(supplier, name, fmt, DocKind.INVENTORY_SNAPSHOT, [doc], host=host)
        )
    return tuple(endpoints)


def paged_snapshot(
    supplier: str,
    *,
    items: int = 20,
    per_page: int = 5,
    warehouse: str = "W01",
    host: int = 0,
    seed: int = 0,
) -> EndpointSpec:
    """One JSON snapshot read over ``Link`` pages of ``per_page`` SKUs (one document a
    page). Round 1: the same SKUs, the first page two shorter (every boundary moves);
    round 2: the last third of the SKUs gone, so fewer pages."""
    if per_page < 3 or items < per_page:
        raise ValueError("a paged snapshot needs per_page >= 3 and at least one full page")
    rng = random.Random(f"{seed}|paged|{supplier}|{warehouse}")
    stock = _items(rng, "PG", 1, items)

    def pages(its: list[InventoryItem], first: int) -> list[Document]:
        cuts = [0, *range(first, len(its), per_page), len(its)]
        chunks = [its[a:b] for a, b in itertools.pairwise(cuts) if b > a]
        return [_snapshot(supplier, warehouse, chunk) for chunk in chunks]

    kept = stock[: items - items // 3]
    return _endpoint(
        supplier,
        f"{warehouse}-stock",
        "json",
        DocKind.INVENTORY_SNAPSHOT,
        pages(stock, per_page),
        host=host,
        revisions=[pages(stock, per_page - 2), pages(kept, per_page)],
        paged=True,
    )


def corrected_snapshot(
    supplier: str,
    fmt: str,
    *,
    by: Literal["repoll", "version"],
    items: int = 8,
    warehouse: str = "W01",
    host: int = 0,
    seed: int = 0,
) -> EndpointSpec:
    """A snapshot whose round-1 body corrects it: the same ``as_of``, the even SKUs'
    quantities changed, the last SKU gone and a new one reported."""
    rng = random.Random(f"{seed}|fix|{supplier}|{fmt}|{warehouse}")
    first = _items(rng, "FX", 1, items)
    fixed = [_recount(i, 5) if n % 2 == 0 else i for n, i in enumerate(first[:-1])]
    fixed += _items(rng, "FX", items + 1, 1)
    before = after = _NO_VERSION
    if by == "version":
        before, after = (_AS_OF, "000000041"), (_AS_OF + dt.timedelta(minutes=20), "000000042")
    return _endpoint(
        supplier,
        f"{warehouse}-{by}",
        fmt,
        DocKind.INVENTORY_SNAPSHOT,
        [_snapshot(supplier, warehouse, first, before)],
        host=host,
        revisions=[[_snapshot(supplier, warehouse, fixed, after)]],
    )


def duplicate_asns(
    supplier: str, fmt: str, *, records: int = 6, serial: int = 900, host: int = 0, seed: int = 0
) -> EndpointSpec:
    """Ship notices of ``records`` lines, and last a second notice with the number and
    version of the first whose first line ships one more. Only formats with document
    boundaries (JSON, X12, EDIFACT, cXML): CSV and mapped XML have a row per line, so
    two notices of one number in one file read as one notice."""
    if fmt not in BOUNDED_FORMATS:
        raise ValueError(f"{fmt} has no document boundary: two ASNs of one number are one")
    rng = random.Random(f"{seed}|dupasn|{supplier}|{fmt}")
    docs = generate_documents(DocKind.SHIP_NOTICE, rng, supplier, serial, records)
    first = docs[0]
    assert isinstance(first, ShipNotice)
    lines = list(first.lines)
    if lines:
        shipped = (lines[0].shipped_qty or 0) + 1
        lines[0] = msgspec.structs.replace(lines[0], shipped_qty=shipped)
    twin = msgspec.structs.replace(first, lines=lines)
    return _endpoint(supplier, f"dup-{fmt}", fmt, DocKind.SHIP_NOTICE, [*docs, twin], host=host)


def identity_fleet(formats: Sequence[str] = ("json",), *, seed: int = 0) -> FleetSpec:
    """One host of every identity supplier: per format a split snapshot of each overlap
    (``SPLITD``, ``SPLITE``, ``SPLITC``), a correction of each kind (``FIXREP``,
    ``FIXVER``) and, where the format has document boundaries, two ASNs with one number
    (``DUPASN``); and a paged snapshot
    (``PAGES``) when JSON is among ``formats``. Warehouses are per format, so the
    snapshots of different formats never meet."""
    endpoints: list[EndpointSpec] = []
    for n, fmt in enumerate(formats):
        warehouse = f"W{n + 1:02d}"
        for supplier, overlap in _SPLITS:
            endpoints += split_snapshot(
                supplier, fmt, overlap=overlap, warehouse=warehouse, seed=seed
            )
        for supplier, by in _CORRECTIONS:
            endpoints.append(
                corrected_snapshot(supplier, fmt, by=by, warehouse=warehouse, seed=seed)
            )
        if fmt in BOUNDED_FORMATS:
            endpoints.append(duplicate_asns("DUPASN", fmt, serial=900 + n, seed=seed))
    if "json" in formats:
        endpoints.append(paged_snapshot("PAGES", seed=seed))
    return FleetSpec(endpoints=tuple(endpoints), hosts=1)
