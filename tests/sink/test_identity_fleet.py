"""A fleet whose suppliers split snapshots over URLs and pages, re-deliver corrections by
re-poll and by version, and send two ASNs with one number, through the real pipeline,
three poll rounds: every table equals the §6 ground truth (no record lost, duplicated or
unexpected, every inventory value the truth's), the conflicts are the truth's, and the
summary's counts add up to the rows written. On memory, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from supplyfeed._sink.base import Sink
from supplyfeed.sim import SupplierFleet
from supplyfeed.sim.identity import identity_fleet

from ..reliability.checker import KEY_COLUMNS
from ..supplier.helpers import assert_rows_match, run, suppliers_of

FORMATS = ("json", "csv", "x12", "edifact", "cxml", "xml")


async def _values(sink: Sink) -> dict[tuple[Any, ...], float]:
    keys = KEY_COLUMNS["inventory_positions"]
    rows = await sink.table_rows("inventory_positions")
    return {tuple(r[c] for c in keys): float(r["on_hand"]) for r in rows}


async def test_every_round_equals_the_ground_truth_of_section_6(sink: Sink) -> None:
    """Three rounds (the second moves page boundaries and corrects, the third shrinks the
    paged snapshot): rows, values and conflicts equal the truth after each round."""
    async with SupplierFleet(identity_fleet(FORMATS)) as fleet:
        suppliers, config = suppliers_of(fleet)
        conflicts = 0
        for round_ in range(3):
            if round_:
                fleet.advance()
            summary = await run(suppliers, sink, config)
            truth = fleet.expected()
            await assert_rows_match(sink, truth)
            assert truth.state is not None
            want = {k: float(item.on_hand) for k, item in truth.state.inventory.items()}
            assert await _values(sink) == want
            buckets = summary.buckets
            assert sum(buckets.values()) == summary.records, buckets
            conflicts += summary.conflicts
            if round_ == 0:
                assert summary.conflicts == sum(truth.conflicts.values())
        assert len(await sink.conflicts()) == conflicts
