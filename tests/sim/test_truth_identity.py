"""The ground truth follows docs/contract.md §6 on small hand-written deliveries, in every order."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

import pytest

from supplyfeed._models import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    ShipNotice,
    ShipNoticeLine,
)
from supplyfeed._sink.schema import content_hash, item_line_hash
from supplyfeed.sim.truth import Delivery, Expected, expected_state, version_rank

T0 = dt.datetime(2026, 11, 28, 7, 45, tzinfo=dt.UTC)
AS_OF = "2026-11-28T07:45:00Z"
INV = DocKind.INVENTORY_SNAPSHOT


def snap(
    stock: dict[str, int], issued: dt.datetime | None = None, control: str | None = None
) -> InventorySnapshot:
    return InventorySnapshot(
        supplier_id="S",
        warehouse_id="W1",
        as_of=T0,
        issued_at=issued,
        control_number=control,
        items=[InventoryItem(sku=k, on_hand=v) for k, v in stock.items()],
    )


def asn(qty: int, control: str | None = None, lines: int = 2) -> ShipNotice:
    return ShipNotice(
        supplier_id="S",
        asn_number="SN1",
        issued_at=T0,
        control_number=control,
        lines=[
            ShipNoticeLine(line_seq=n, sku=f"K{n}", shipped_qty=qty) for n in range(1, 1 + lines)
        ],
    )


def d(source: str, fetched: int, *docs: Document) -> Delivery:
    return Delivery(source, fetched, docs)


def stock(state: Expected) -> dict[str, object]:
    return {str(key[2]): item.on_hand for key, item in state.inventory.items()}


def every_order(deliveries: Sequence[Delivery]) -> list[Expected]:
    """The truth of every permutation of ``deliveries``; they must all be equal."""
    states = [expected_state(p) for p in itertools.permutations(deliveries)]
    assert all(s == states[0] for s in states)
    return states


def test_split_parts_with_disjoint_skus_add_up() -> None:
    """Parts of one snapshot from different sources add up, in any order."""
    state = every_order([d("a", 0, snap({"A": 1, "B": 2})), d("b", 0, snap({"C": 3}))])[0]
    assert stock(state) == {"A": 1, "B": 2, "C": 3}
    assert set(state.inventory) == {("S", "W1", sku, AS_OF) for sku in "ABC"}
    assert state.conflicts == {}


def test_parts_reporting_one_sku_alike_are_no_conflict() -> None:
    """Two parts that report a SKU with equal values: one row, no conflict."""
    state = every_order([d("a", 0, snap({"A": 1, "B": 2})), d("b", 0, snap({"B": 2}))])[0]
    assert stock(state) == {"A": 1, "B": 2}
    assert state.conflicts == {}


def test_parts_reporting_one_sku_differently_conflict_won_by_the_greatest_line_hash() -> None:
    """Equal versions, different values: a conflict; the greatest line hash wins."""
    b1, b7 = InventoryItem(sku="B", on_hand=1), InventoryItem(sku="B", on_hand=7)
    winner = max((b1, b7), key=item_line_hash)
    states = every_order([d("a", 0, snap({"B": 1})), d("b", 0, snap({"B": 7})), d("c", 0)])
    assert stock(states[0]) == {"B": winner.on_hand}
    assert states[0].conflicts == {INV: 1}
    assert states[0].conflicted == {INV: 1}


def test_every_copy_that_differs_from_the_winner_counts_as_a_conflict() -> None:
    """Three parts, two alike: both copies unlike the winner lose (2), one line (1)."""
    winner = max((1, 7), key=lambda q: item_line_hash(InventoryItem(sku="B", on_hand=q)))
    loser = 8 - winner
    deliveries = [d("a", 0, snap({"B": loser})), d("b", 0, snap({"B": loser}))]
    state = every_order([*deliveries, d("c", 0, snap({"B": winner}))])[0]
    assert stock(state) == {"B": winner}
    assert state.conflicts == {INV: 2}
    assert state.conflicted == {INV: 1}


def test_a_higher_version_wins_a_sku_over_another_part() -> None:
    """Between parts, the higher version wins a SKU (no conflict); fetch order does not."""
    newer = snap({"B": 1}, issued=T0 + dt.timedelta(minutes=5))
    state = every_order([d("a", 9, snap({"B": 7})), d("b", 0, newer)])[0]
    assert stock(state) == {"B": 1}
    assert state.conflicts == {}


def test_a_repoll_correction_replaces_the_source_part_whole() -> None:
    """Same source, no version: the later fetch wins; its missing SKU goes."""
    state = every_order(
        [d("a", 0, snap({"A": 1, "B": 2})), d("a", 1, snap({"A": 5})), d("b", 0, snap({"C": 3}))]
    )[0]
    assert stock(state) == {"A": 5, "C": 3}


def test_a_higher_control_number_wins_even_when_it_arrives_first() -> None:
    """An older version fetched later does not replace the source's newer part."""
    old, new = snap({"A": 1}, T0, "9"), snap({"A": 2}, T0, "10")
    state = every_order([d("a", 0, new), d("a", 1, old)])[0]
    assert stock(state) == {"A": 2}


def test_pages_of_one_delivery_are_one_part_and_a_shrunk_delivery_drops_skus() -> None:
    """A paged delivery's pages add up; the next, with fewer pages, replaces them all."""
    first = d("p", 0, snap({"A": 1, "B": 1}), snap({"C": 1, "D": 1}), snap({"E": 1}))
    second = d("p", 1, snap({"A": 2, "B": 2, "C": 2}))
    assert stock(every_order([first])[0]) == dict.fromkeys("ABCDE", 1)
    assert stock(every_order([first, second])[0]) == dict.fromkeys("ABC", 2)


def test_two_asns_of_one_number_in_one_body_conflict_won_by_the_greater_content_hash() -> None:
    """One delivery, two ship notices of one number, one version: a conflict."""
    one, two = asn(1), asn(2)
    state = every_order([d("f", 0, one, two), d("g", 0)])[0]
    winner = max((one, two), key=content_hash)
    assert state.documents == {("ship_notices", ("S", "SN1")): winner}
    assert state.conflicts == {DocKind.SHIP_NOTICE: 1}


def test_a_newer_asn_replaces_the_old_whole_and_a_refetch_is_a_correction() -> None:
    """A higher control number wins whole (its absent lines go); an equal version
    re-fetched from the same source is a correction, not a conflict."""
    state = every_order([d("f", 0, asn(1, "1", lines=3)), d("g", 0, asn(2, "2", lines=1))])[0]
    assert state.documents == {("ship_notices", ("S", "SN1")): asn(2, "2", lines=1)}
    assert state.table_rows()["ship_notice_lines"] == {("S", "SN1", 1)}
    state = every_order([d("f", 0, asn(1)), d("f", 1, asn(2))])[0]
    assert state.documents == {("ship_notices", ("S", "SN1")): asn(2)}
    assert state.conflicts == {}


def test_two_deliveries_of_one_source_need_distinct_fetch_numbers() -> None:
    """Which of two deliveries of one source is later must be known: else ValueError."""
    with pytest.raises(ValueError, match="two deliveries of a as fetch 0"):
        expected_state([d("a", 0, snap({"A": 1})), d("a", 0, snap({"A": 2}))])


def test_version_rank_orders_dates_then_control_numbers_numerically() -> None:
    """Missing parts sort first; all-digit control numbers compare as numbers."""
    ranks = [
        version_rank(snap({}, None, None)),
        version_rank(snap({}, T0, None)),
        version_rank(snap({}, T0, "9")),
        version_rank(snap({}, T0, "10")),
        version_rank(snap({}, T0 + dt.timedelta(seconds=1), "1")),
    ]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)
