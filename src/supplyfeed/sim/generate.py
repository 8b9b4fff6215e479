"""Realistic canonical documents, deterministic from a seeded ``random.Random``.

Identifiers are built from the endpoint's serial number so that no two endpoints of a
fleet ever produce the same natural key (docs/contract.md §5): a duplicate in the database is then
always the client's fault, never the generator's. Everything else (SKUs, quantities,
statuses, carriers, lots) is drawn from the generator.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable, Sequence
from typing import Final

from .._models import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    ShipNotice,
    ShipNoticeLine,
)

__all__ = ["generate_documents", "sscc"]

_EPOCH: Final = dt.datetime(2026, 1, 5, 6, 0, 0, tzinfo=dt.UTC)
_UOMS: Final = ("EA", "EA", "EA", "EA", "CS", "PK", "BX")
_SHIP_TO: Final = ("DC-ATL1", "DC-DFW2", "DC-RNO1", "DC-ALB3", "DC-CMH1")
_GS1_PREFIX: Final = "0614141"  # the GS1 example company prefix
_LINE_STATUSES: Final = ("accepted", "accepted_with_changes", "backordered", "rejected")
_LINE_WEIGHTS: Final = (75, 10, 10, 5)
_MAX_LINES_PER_DOC: Final = 8

Generator = Callable[[random.Random, str, int, int], list[Document]]


def generate_documents(
    kind: DocKind, rng: random.Random, supplier_id: str, serial: int, records: int
) -> list[Document]:
    """The documents of one endpoint: ``records`` line items in total.

    An inventory endpoint serves one snapshot of one warehouse; PO-ack and ship-notice
    endpoints serve several documents of 1-8 lines each (zero records: one empty
    document, which still has a header row to load).
    """
    return _GENERATORS[kind](rng, supplier_id, serial, records)


def sscc(rng: random.Random) -> str:
    """An 18-digit SSCC (GS1 AI 00) with a correct mod-10 check digit."""
    body = f"{rng.randint(0, 9)}{_GS1_PREFIX}{rng.randint(0, 999_999_999):09d}"
    return body + _gs1_check_digit(body)


def _gs1_check_digit(digits: str) -> str:
    # GS1: weights 3,1,3,... from the rightmost digit of the body.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _instant(rng: random.Random, serial: int) -> dt.datetime:
    """A whole-second UTC instant, distinct per serial (15 minutes apart, jittered)."""
    return _EPOCH + dt.timedelta(minutes=15 * serial, seconds=rng.randint(0, 599))


def _skus(rng: random.Random, supplier_id: str, count: int) -> list[str]:
    prefix = f"P{supplier_id[-3:]}"  # part numbers per supplier, e.g. P001-04217
    return [f"{prefix}-{n:05d}" for n in rng.sample(range(max(100_000, count)), count)]


def _split(rng: random.Random, records: int) -> list[int]:
    """Line counts of the documents of one endpoint (at least one document)."""
    sizes: list[int] = []
    while records > 0:
        n = min(records, rng.randint(1, _MAX_LINES_PER_DOC))
        sizes.append(n)
        records -= n
    return sizes or [0]


# -- inventory -------------------------------------------------------------------------
def _inventory(rng: random.Random, supplier_id: str, serial: int, records: int) -> list[Document]:
    items = []
    for sku in _skus(rng, supplier_id, records):
        on_hand = rng.choice((0, rng.randint(1, 50), rng.randint(50, 5000)))
        allocated = rng.randint(0, on_hand // 3) if on_hand else 0
        items.append(
            InventoryItem(
                sku=sku, on_hand=on_hand, available=on_hand - allocated, uom=rng.choice(_UOMS)
            )
        )
    snapshot = InventorySnapshot(
        supplier_id=supplier_id,
        warehouse_id=f"W{rng.randint(1, 12):02d}",
        as_of=_instant(rng, serial),
        items=items,
    )
    return [snapshot]


# -- PO acknowledgments ----------------------------------------------------------------
def _po_acks(rng: random.Random, supplier_id: str, serial: int, records: int) -> list[Document]:
    docs: list[Document] = []
    for k, size in enumerate(_split(rng, records)):
        issued = _instant(rng, serial) + dt.timedelta(seconds=k)
        lines = [
            _po_ack_line(rng, n + 1, sku, issued.date())
            for n, sku in enumerate(_skus(rng, supplier_id, size))
        ]
        docs.append(
            PoAck(
                supplier_id=supplier_id,
                po_number=f"45{serial:05d}{k:03d}",
                ack_number=f"AK{serial:05d}{k:03d}",
                ack_date=issued.date(),
                status=_header_status(lines),
                issued_at=issued,
                lines=lines,
            )
        )
    return docs


def _po_ack_line(rng: random.Random, number: int, sku: str, ack_date: dt.date) -> PoAckLine:
    status = rng.choices(_LINE_STATUSES, _LINE_WEIGHTS)[0]
    ordered = rng.randint(1, 500)
    acked = {"accepted": ordered, "backordered": ordered, "rejected": 0}.get(
        status, max(1, ordered * rng.randint(50, 90) // 100)
    )
    promised: dt.date | None = None
    if status != "rejected":
        lead = rng.randint(21, 60) if status == "backordered" else rng.randint(2, 14)
        promised = ack_date + dt.timedelta(days=lead)
    return PoAckLine(
        line_number=str(number),
        sku=sku,
        ordered_qty=ordered,
        acked_qty=acked,
        uom=rng.choice(_UOMS),
        unit_price=round(rng.uniform(0.5, 450.0), 2),
        line_status=status,
        promised_date=promised,
    )


def _header_status(lines: Sequence[PoAckLine]) -> str:
    statuses = {line.line_status for line in lines}
    if statuses <= {"accepted"}:
        return "accepted"
    if statuses == {"rejected"}:
        return "rejected"
    return "accepted_with_changes"


# -- ship notices ----------------------------------------------------------------------
def _ship_notices(
    rng: random.Random, supplier_id: str, serial: int, records: int
) -> list[Document]:
    docs: list[Document] = []
    for k, size in enumerate(_split(rng, records)):
        issued = _instant(rng, serial) + dt.timedelta(seconds=k)
        carrier, tracking = _carrier(rng)
        docs.append(
            ShipNotice(
                supplier_id=supplier_id,
                asn_number=f"SN{serial:05d}{k:03d}",
                ship_date=issued.date(),
                expected_delivery=issued.date() + dt.timedelta(days=rng.randint(1, 6)),
                carrier=carrier,
                tracking_number=tracking,
                ship_from=f"{supplier_id}-DC{rng.randint(1, 3)}",
                ship_to=rng.choice(_SHIP_TO),
                issued_at=issued,
                lines=_ship_lines(rng, supplier_id, size, issued.date()),
            )
        )
    return docs


def _ship_lines(
    rng: random.Random, supplier_id: str, size: int, ship_date: dt.date
) -> list[ShipNoticeLine]:
    pallets = [sscc(rng) for _ in range(max(1, size // 4))]
    po_number = f"45{rng.randint(0, 99_999):05d}{rng.randint(0, 999):03d}"
    lines = []
    for seq, sku in enumerate(_skus(rng, supplier_id, size), start=1):
        lot_controlled = rng.random() < 0.6
        lines.append(
            ShipNoticeLine(
                line_seq=seq,
                po_number=po_number,
                po_line_number=str(seq),
                sku=sku,
                shipped_qty=rng.randint(1, 400),
                uom=rng.choice(_UOMS),
                container_id=rng.choice(pallets),
                lot=_lot(rng, ship_date) if lot_controlled else None,
            )
        )
    return lines


def _lot(rng: random.Random, ship_date: dt.date) -> str:
    made = ship_date - dt.timedelta(days=rng.randint(3, 120))
    return f"L{made:%y%m%d}{''.join(rng.choices(string.ascii_uppercase, k=2))}"


def _carrier(rng: random.Random) -> tuple[str, str]:
    """A carrier SCAC and a tracking number in that carrier's shape."""
    scac = rng.choice(("UPSN", "FDEG", "FDEG", "USPS", "DHLC", "ODFL"))
    digits = string.digits
    if scac == "UPSN":
        shipper = "".join(rng.choices(string.ascii_uppercase + digits, k=6))
        return scac, f"1Z{shipper}03{''.join(rng.choices(digits, k=8))}"
    length = {"FDEG": 12, "USPS": 22, "DHLC": 10, "ODFL": 11}[scac]
    return scac, "".join(rng.choices(digits, k=length))


_GENERATORS: Final[dict[DocKind, Generator]] = {
    DocKind.INVENTORY_SNAPSHOT: _inventory,
    DocKind.PO_ACK: _po_acks,
    DocKind.SHIP_NOTICE: _ship_notices,
}
