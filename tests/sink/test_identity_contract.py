"""docs/contract.md §6 on every sink: document identity, parts, versions, conflicts and honest
counts.

Every scenario checks the tables like a Jepsen checker (nothing lost, nothing duplicated,
nothing unexpected, every value the one §6 says) and the counts: for every payload,
decoded = loaded + unchanged + stale + superseded + conflict, and the run's ``loaded``
equals the rows it wrote that are still in the tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from supplyfeed._models import DocKind, InventoryItem, InventorySnapshot
from supplyfeed._sink.base import EndpointRecord, LoadUnit, Outcome, Sink
from supplyfeed._sink.schema import content_hash, item_line_hash

from .helpers import T0, check_exactly, endpoint, run_record, ship_notice, unit


def part(items: dict[str, int], *, issued: dt.datetime | None = None, control: str | None = None,
         warehouse: str = "W01") -> InventorySnapshot:  # fmt: skip
    return InventorySnapshot(
        supplier_id="SUP",
        warehouse_id=warehouse,
        as_of=T0,
        issued_at=issued,
        control_number=control,
        items=[InventoryItem(sku=sku, on_hand=qty) for sku, qty in items.items()],
    )


async def load(sink: Sink, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
    await sink.start_run(run_record(units[0].run_id), [u.record.endpoint for u in units])
    finals = await sink.load(units)
    for f in finals:
        assert f.outcome is Outcome.LOADED, f.error_message
    return finals


def stock(rows: list[dict[str, Any]]) -> dict[str, Any]:
    check_exactly(rows, [r["sku"] for r in rows])  # one row per SKU
    return {r["sku"]: r["on_hand"] for r in rows}


async def check_counts(sink: Sink, run_id: str) -> dict[str, int]:
    """Every record decoded is in exactly one bucket; ``loaded`` is what is in the tables."""
    ledger = await sink.endpoints(run_id)
    totals = dict.fromkeys(("loaded", "unchanged", "stale", "superseded", "conflict"), 0)
    for r in ledger:
        buckets = {b: getattr(r, f"records_{b}") for b in totals}
        assert sum(buckets.values()) == r.records, (r.endpoint.key, buckets, r.records)
        for b, n in buckets.items():
            totals[b] += n
    in_tables = 0
    for table in ("inventory_positions", "po_ack_lines", "ship_notice_lines"):
        in_tables += sum(1 for row in await sink.table_rows(table) if row["run_id"] == run_id)
    assert totals["loaded"] == in_tables, (totals, in_tables)
    return totals


async def test_split_parts_with_disjoint_skus_add_up(sink: Sink) -> None:
    """Three URLs each report a product line of one warehouse at one instant: all stay."""
    parts = [part({f"A{i}": i for i in range(3)}), part({"B0": 10}), part({"C0": 20, "C1": 21})]
    await load(sink, [unit(f"line-{n}", [p]) for n, p in enumerate(parts)])
    rows = await sink.table_rows("inventory_positions")
    assert stock(rows) == {"A0": 0, "A1": 1, "A2": 2, "B0": 10, "C0": 20, "C1": 21}
    assert await check_counts(sink, "run-1") == {
        "loaded": 6, "unchanged": 0, "stale": 0, "superseded": 0, "conflict": 0
    }  # fmt: skip


async def test_split_parts_reporting_one_sku_alike_keep_it_while_either_stands(
    sink: Sink,
) -> None:
    """Two parts report SKU X with equal values: one row, the second copy is unchanged;
    when the first part's source drops X, the second part's report still holds it."""
    await load(sink, [unit("p1", [part({"X": 5, "A": 1})]), unit("p2", [part({"X": 5, "B": 2})])])
    assert stock(await sink.table_rows("inventory_positions")) == {"X": 5, "A": 1, "B": 2}
    counts = await check_counts(sink, "run-1")
    assert (counts["loaded"], counts["unchanged"]) == (3, 1)
    await load(sink, [unit("p1", [part({"A": 1})], run_id="run-2")])
    assert stock(await sink.table_rows("inventory_positions")) == {"X": 5, "A": 1, "B": 2}
    await check_counts(sink, "run-2")


@pytest.mark.parametrize("order", ["p1 first", "p2 first"])
async def test_split_parts_reporting_one_sku_differently_are_a_conflict(
    sink: Sink, order: str
) -> None:
    """Two parts disagree on SKU X at an equal version: the same winner in either order
    (the greater line hash), the conflict stored with both sources and request ids."""
    p1, p2 = part({"X": 5, "A": 1}), part({"X": 7, "B": 2})
    units = [unit("p1", [p1], request_id="r1"), unit("p2", [p2], request_id="r2")]
    await load(sink, units if order == "p1 first" else units[::-1])
    by_hash = {item_line_hash(i): i.on_hand for p in (p1, p2) for i in p.items if i.sku == "X"}
    winner = by_hash[max(by_hash)]
    assert stock(await sink.table_rows("inventory_positions")) == {"X": winner, "A": 1, "B": 2}
    counts = await check_counts(sink, "run-1")
    assert (counts["loaded"], counts["conflict"]) == (3, 1)
    [conflict] = await sink.conflicts("run-1")
    assert conflict.line_key == "X"
    assert {conflict.winner.request_id, conflict.loser.request_id} == {"r1", "r2"}
    assert {conflict.winner.source, conflict.loser.source} == {"p1", "p2"}
    assert conflict.winner_values[0] == winner
    # The loser is kept: when the winner's part drops X, the other report takes its place.
    loser_source = conflict.loser.source
    winner_source = conflict.winner.source
    await load(sink, [unit(winner_source, [part({"Z": 9})], run_id="run-2")])
    left = stock(await sink.table_rows("inventory_positions"))
    assert left["X"] == (7 if loser_source == "p2" else 5)


async def test_a_correction_by_repoll_replaces_the_part(sink: Sink) -> None:
    """The same URL polled again, the same as_of, no date or control number, changed
    quantities: the later fetch wins, lines that disappeared go, whatever the hashes."""
    first = part({"A": 1, "B": 2, "C": 3})
    corrected = part({"A": 10, "B": 2})
    await load(sink, [unit("inv", [first], run_id="run-1")])
    await load(sink, [unit("inv", [corrected], run_id="run-2")])
    assert stock(await sink.table_rows("inventory_positions")) == {"A": 10, "B": 2}
    assert (await check_counts(sink, "run-2"))["loaded"] == 2


async def test_a_correction_by_control_number_wins_and_the_original_arriving_late_is_stale(
    sink: Sink,
) -> None:
    """X12 846 style: a higher control number replaces; the original re-sent afterwards is
    stale (counted, not loaded), not a silent overwrite."""
    original = part({"A": 1, "B": 2}, issued=T0, control="000000101")
    correction = part({"A": 3}, issued=T0, control="000000102")
    await load(sink, [unit("inv", [original], run_id="run-1")])
    await load(sink, [unit("inv", [correction], run_id="run-2")])
    finals = await load(sink, [unit("inv", [original], run_id="run-3")])
    assert stock(await sink.table_rows("inventory_positions")) == {"A": 3}
    assert (finals[0].records_stale, finals[0].stale_documents) == (2, 1)
    await check_counts(sink, "run-3")


async def test_an_older_version_from_another_part_does_not_overwrite(sink: Sink) -> None:
    """Two sources report SKU X at different versions: the higher wins in either order."""
    new = part({"X": 9}, issued=T0 + dt.timedelta(minutes=5))
    old = part({"X": 1, "Y": 2}, issued=T0)
    await load(sink, [unit("a", [new], run_id="run-1"), unit("b", [old], run_id="run-1")])
    assert stock(await sink.table_rows("inventory_positions")) == {"X": 9, "Y": 2}
    counts = await check_counts(sink, "run-1")
    assert (counts["loaded"], counts["stale"]) == (2, 1)


async def test_a_paged_source_whose_boundaries_shift_ends_equal_to_its_latest_delivery(
    sink: Sink,
) -> None:
    """Pages of 3 SKUs, then the same snapshot re-paged by 2 (one SKU gone, one changed):
    after the second delivery completes, the table is exactly that delivery."""
    first = [part({"A": 1, "B": 2, "C": 3}), part({"D": 4, "E": 5, "F": 6})]
    second = [part({"A": 1, "B": 2}), part({"C": 30, "D": 4}), part({"E": 5})]
    await _deliver_pages(sink, "run-1", first)
    await _deliver_pages(sink, "run-2", second)
    rows = await sink.table_rows("inventory_positions")
    assert stock(rows) == {"A": 1, "B": 2, "C": 30, "D": 4, "E": 5}
    await check_counts(sink, "run-2")


async def test_a_paged_source_whose_page_count_shrinks_keeps_no_stale_row(sink: Sink) -> None:
    """Five pages, then two: the rows of pages 3 to 5 go once the delivery completes; a
    crash before that leaves the previous part plus the pages loaded (nothing lost)."""
    five = [part({f"S{p}{i}": p for i in range(2)}) for p in range(5)]
    two = [part({"S00": 100, "S01": 100}), part({"S10": 200})]
    await _deliver_pages(sink, "run-1", five)
    await _deliver_pages(sink, "run-2", two, complete=False)  # "crash" before the end
    mid = stock(await sink.table_rows("inventory_positions"))
    assert (len(mid), mid["S00"], mid["S40"]) == (10, 100, 4)
    await sink.finish_source("run-2", "feed")  # the delivery completes (resume)
    assert stock(await sink.table_rows("inventory_positions")) == {
        "S00": 100, "S01": 100, "S10": 200
    }  # fmt: skip


async def _deliver_pages(
    sink: Sink, run_id: str, pages: list[InventorySnapshot], *, complete: bool = True
) -> None:
    keys = ["feed" if n == 0 else f"feed#page={n + 1}" for n in range(len(pages))]
    units = [unit(k, [p], run_id=run_id) for k, p in zip(keys, pages, strict=True)]
    for u in units:
        u.paged = True
    await load(sink, units)
    if complete:
        await sink.finish_source(run_id, "feed")


async def test_a_drop_folder_with_several_files_per_warehouse_keeps_every_file(
    sink: Sink,
) -> None:
    """Each drop file is its own source: three files for one warehouse add up; a new
    version of one file replaces only that file's part."""
    files = {f"sftp://drop/out/inv-{n}.json": part({f"F{n}-{i}": n for i in range(4)})
             for n in range(3)}  # fmt: skip
    await load(sink, [unit(k, [p]) for k, p in files.items()])
    assert len(await sink.table_rows("inventory_positions")) == 12
    await load(sink, [unit("sftp://drop/out/inv-1.json", [part({"F1-0": 99})], run_id="run-2")])
    rows = stock(await sink.table_rows("inventory_positions"))
    assert (len(rows), rows["F1-0"], "F1-1" in rows) == (9, 99, False)


@pytest.mark.parametrize("order", ["first", "second"])
async def test_two_asns_with_one_number_in_one_file_are_a_conflict(sink: Sink, order: str) -> None:
    """One file, two ship notices with one number and different content: not a newer
    version of each other, a conflict; the same winner in either order."""
    a, b = ship_notice((1, 2), carrier="UPS"), ship_notice((1, 2, 3), carrier="DHL")
    docs = [a, b] if order == "first" else [b, a]
    await load(sink, [unit("asns", docs, request_id="r1", kind=DocKind.SHIP_NOTICE)])
    winner = max((a, b), key=content_hash)
    [notice] = await sink.table_rows("ship_notices")
    assert notice["carrier"] == winner.carrier
    assert len(await sink.table_rows("ship_notice_lines")) == len(winner.lines)
    [conflict] = await sink.conflicts()
    assert (conflict.line_key, conflict.doc_type) == (None, "ship_notice")
    counts = await check_counts(sink, "run-1")
    assert counts["conflict"] == len(min((a, b), key=content_hash).lines)


async def test_a_newer_asn_later_in_the_same_run_supersedes(sink: Sink) -> None:
    """Two endpoints deliver versions 7 and 8 of one ASN in one run: the records of 7,
    written first, are counted superseded, not loaded."""
    v7, v8 = ship_notice((1, 2), control="7"), ship_notice((1,), control="8")
    await sink.start_run(run_record(), [endpoint("a", DocKind.SHIP_NOTICE)])
    await sink.load([unit("a", [v7], kind=DocKind.SHIP_NOTICE)])
    await sink.load([unit("b", [v8], kind=DocKind.SHIP_NOTICE)])
    counts = await check_counts(sink, "run-1")
    assert (counts["loaded"], counts["superseded"]) == (1, 2)


async def test_fetches_of_one_source_in_one_call_load_in_their_order(sink: Sink) -> None:
    """Two empty deliveries, then one in two parts (it takes the per-unit path), all in one
    call: the last fetch wins, as it would in three calls (the batch keeps the order)."""
    await load(sink, [unit("a", [part({"A": 1, "B": 2})], run_id="run-1", request_id="r1")])
    finals = await load(
        sink,
        [
            unit("a", [part({})], run_id="run-2", request_id="r2"),
            unit("a", [part({})], run_id="run-2", request_id="r3"),
            unit("a", [part({"A": 1}), part({"B": 1})], run_id="run-2", request_id="r4"),
        ],
    )
    assert stock(await sink.table_rows("inventory_positions")) == {"A": 1, "B": 1}
    assert [(f.records_loaded, f.records_superseded) for f in finals] == [(0, 0), (0, 0), (2, 0)]
    await check_counts(sink, "run-2")
