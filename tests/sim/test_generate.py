"""Generated documents look like real supplier data."""

from __future__ import annotations

import datetime as dt
import random
import re

from supplyfeed._models import InventorySnapshot, PoAck, ShipNotice
from supplyfeed.sim import FleetSpec
from supplyfeed.sim.generate import sscc


def _gs1_valid(code: str) -> bool:
    digits = [int(d) for d in code]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


def test_sscc_has_18_digits_and_a_valid_check_digit() -> None:
    """SSCCs are 18 digits with a correct GS1 mod-10 check digit."""
    rng = random.Random(1)
    for _ in range(200):
        code = sscc(rng)
        assert re.fullmatch(r"\d{18}", code)
        assert _gs1_valid(code)


def test_documents_are_realistic() -> None:
    """Integer quantities, on_hand >= available, 2-decimal prices, whole-second UTC
    datetimes, line statuses from the canonical set, SSCC containers."""
    spec = FleetSpec.generate(endpoints=60, hosts=3, records_per_endpoint=12, seed=5)
    docs = [d for ep in spec.endpoints for d in ep.documents]
    seen_statuses: set[str] = set()
    for doc in docs:
        if isinstance(doc, InventorySnapshot):
            _check_instant(doc.as_of)
            for item in doc.items:
                assert isinstance(item.on_hand, int)
                assert item.available is not None
                assert 0 <= item.available <= item.on_hand
        elif isinstance(doc, PoAck):
            assert doc.issued_at is not None
            _check_instant(doc.issued_at)
            for line in doc.lines:
                assert line.unit_price == round(line.unit_price or 0, 2)
                assert isinstance(line.ordered_qty, int)
                assert line.acked_qty is not None
                assert line.ordered_qty is not None
                assert 0 <= line.acked_qty <= line.ordered_qty
                seen_statuses.add(line.line_status or "")
        elif isinstance(doc, ShipNotice):
            assert doc.issued_at is not None
            assert doc.carrier
            assert doc.tracking_number
            for sline in doc.lines:
                assert sline.container_id is not None
                assert _gs1_valid(sline.container_id)
    assert seen_statuses == {"accepted", "accepted_with_changes", "backordered", "rejected"}


def test_records_per_endpoint_is_the_number_of_line_records() -> None:
    """records_per_endpoint=7: every endpoint's documents hold 7 lines/items in all."""
    spec = FleetSpec.generate(endpoints=12, hosts=2, records_per_endpoint=7)
    for ep in spec.endpoints:
        count = sum(
            len(d.items) if isinstance(d, InventorySnapshot) else len(d.lines) for d in ep.documents
        )
        assert count == 7


def _check_instant(value: dt.datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == dt.timedelta(0)
    assert value.microsecond == 0
