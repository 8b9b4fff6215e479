"""The identity suppliers (docs/contract.md §6): what they serve, round by round, and their
truth."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import msgspec
import orjson
import pytest

from supplyfeed._models import DocKind, InventorySnapshot, ShipNotice, document_key
from supplyfeed.sim import FleetSpec, SupplierFleet
from supplyfeed.sim.identity import (
    corrected_snapshot,
    duplicate_asns,
    identity_fleet,
    paged_snapshot,
    split_snapshot,
)
from supplyfeed.sim.sftp import DropBatch
from supplyfeed.sim.truth import version_rank

INVENTORY_FORMATS = ("json", "csv", "x12", "edifact", "cxml", "xml")


def skus(doc: object) -> list[str]:
    assert isinstance(doc, InventorySnapshot)
    return [i.sku for i in doc.items]


@pytest.mark.parametrize("overlap", ["disjoint", "equal", "conflict"])
def test_split_snapshot_parts_share_one_key_and_overlap_as_asked(overlap: str) -> None:
    """Every part has one warehouse and as_of; a later part repeats a quarter of the
    previous part's SKUs (equal or other quantities) unless disjoint."""
    parts = split_snapshot("S", "json", parts=3, items=8, overlap=overlap)  # type: ignore[arg-type]
    docs = [ep.documents[0] for ep in parts]
    assert len({ep.path for ep in parts}) == 3
    assert len({document_key(doc) for doc in docs}) == 1
    shared = set(skus(docs[0])) & set(skus(docs[1]))
    assert len(shared) == (0 if overlap == "disjoint" else 2)
    a = {i.sku: i for i in docs[0].items if i.sku in shared}  # type: ignore[union-attr]
    b = {i.sku: i for i in docs[1].items if i.sku in shared}  # type: ignore[union-attr]
    assert (a == b) == (overlap != "conflict")


def test_paged_snapshot_shifts_its_boundaries_then_shrinks() -> None:
    """Round 0: pages of 5; round 1: the same SKUs, every boundary moved; round 2: fewer
    SKUs on fewer pages. Every page is a part of one snapshot."""
    ep = paged_snapshot("S", items=20, per_page=5)
    rounds = [ep.documents_at(r) for r in range(3)]
    assert [len(r) for r in rounds] == [4, 5, 3]
    assert [len(skus(p)) for p in rounds[1]] == [3, 5, 5, 5, 2]
    assert [s for p in rounds[0] for s in skus(p)] == [s for p in rounds[1] for s in skus(p)]
    assert len({document_key(p) for r in rounds for p in r}) == 1
    assert ep.documents_at(7) == rounds[2]  # past the last revision, the last stays


@pytest.mark.parametrize("by", ["repoll", "version"])
def test_a_correction_keeps_as_of_and_changes_quantities(by: str) -> None:
    """Round 1 re-delivers the snapshot: same key, other quantities, one SKU gone and
    one new; by version its issued_at and control number are higher, by re-poll absent."""
    ep = corrected_snapshot("S", "x12", by=by)  # type: ignore[arg-type]
    (old,), (new,) = ep.documents_at(0), ep.documents_at(1)
    assert isinstance(old, InventorySnapshot)
    assert isinstance(new, InventorySnapshot)
    assert document_key(old) == document_key(new)
    assert old.items != new.items
    assert set(skus(old)) ^ set(skus(new)) == {"FX-00008", "FX-00009"}
    if by == "version":
        assert old.issued_at is not None
        assert (
            version_rank(new)
            > version_rank(old)
            > version_rank(msgspec.structs.replace(old, issued_at=None, control_number=None))
        )
    else:
        assert (
            (new.issued_at, new.control_number)
            == (old.issued_at, old.control_number)
            == (
                None,
                None,
            )
        )


def test_duplicate_asns_hold_two_notices_of_one_number_with_other_content() -> None:
    """The body's last notice has the first's number and version, not its content."""
    ep = duplicate_asns("S", "json")
    first, twin = ep.documents[0], ep.documents[-1]
    assert isinstance(first, ShipNotice)
    assert isinstance(twin, ShipNotice)
    assert (twin.asn_number, twin.issued_at) == (first.asn_number, first.issued_at)
    assert twin.lines != first.lines
    with pytest.raises(ValueError, match="csv has no document boundary"):
        duplicate_asns("S", "csv")


def test_existing_fleets_serve_one_round() -> None:
    """A generated fleet has no revisions and no paging: nothing changes for it."""
    spec = FleetSpec.generate(endpoints=12, hosts=2)
    assert all(ep.rounds == 1 and not ep.paged for ep in spec.endpoints)


async def test_identity_fleet_truth_counts_parts_and_corrections_in_every_format() -> None:
    """Over every inventory format (each endpoint decoded as a client reads it): split
    parts add up (3 lines of 8 SKUs; a SKU two parts share counts once) and a correction
    replaces its part (one SKU gone, one new), whichever rounds the client polled."""
    spec = identity_fleet(INVENTORY_FORMATS)
    async with SupplierFleet(spec) as fleet:
        first = fleet.expected()
        fleet.advance()
        second = fleet.expected()
        only_second = fleet.expected(polled=[1])
    per_format = {"SPLITD": 24, "SPLITE": 24, "SPLITC": 24, "FIXREP": 8, "FIXVER": 8}
    rows = first.rows("inventory_positions")
    for supplier, n in per_format.items():
        assert sum(1 for key in rows if key[0] == supplier) == n * len(INVENTORY_FORMATS)
    assert sum(1 for key in rows if key[0] == "PAGES") == 20
    fixed = {k for k in second.rows("inventory_positions") if str(k[0]).startswith("FIX")}
    assert {k[2] for k in fixed} == {f"FX-{n:05d}" for n in (*range(1, 8), 9)}
    assert second.table_rows == only_second.table_rows


async def test_identity_fleet_truth_expects_the_conflicts_of_equal_versions() -> None:
    """Where the format carries the documents' own version (JSON, CSV, mapped XML), each
    conflicting split loses 4 copies (2 shared SKUs in each of 2 overlaps) and the JSON
    body's ASN twin loses or wins 1; X12's twin has a higher ST02, so it is newer and
    replaces the first notice: no conflict."""
    async with SupplierFleet(identity_fleet(("json", "csv", "xml"))) as fleet:
        truth = fleet.expected()
    assert truth.conflicts == {DocKind.INVENTORY_SNAPSHOT: 12, DocKind.SHIP_NOTICE: 1}
    assert truth.state is not None
    assert truth.state.conflicted == {DocKind.INVENTORY_SNAPSHOT: 12, DocKind.SHIP_NOTICE: 1}
    ep = duplicate_asns("S", "x12")
    async with SupplierFleet(FleetSpec(endpoints=(ep,), hosts=1)) as fleet:
        x12 = fleet.expected()
    assert x12.conflicts == {}
    assert x12.state is not None
    twin = ep.documents[-1]
    assert isinstance(twin, ShipNotice)
    winner = x12.state.documents[("ship_notices", ("S", twin.asn_number))]
    assert isinstance(winner, ShipNotice)
    assert [line.shipped_qty for line in winner.lines] == [line.shipped_qty for line in twin.lines]


async def test_a_corrected_body_is_served_with_a_new_etag_after_advance() -> None:
    """advance() re-points the endpoint to its next body and ETag; the truth follows."""
    ep = corrected_snapshot("S", "json", by="repoll")
    async with (
        SupplierFleet(FleetSpec(endpoints=(ep,), hosts=1)) as fleet,
        aiohttp.ClientSession() as http,
    ):
        url = fleet.url_of(ep)
        async with http.get(url) as r0:
            etag, body0 = r0.headers["ETag"], await r0.read()
        fleet.advance()
        async with http.get(url, headers={"If-None-Match": etag}) as r1:
            assert r1.status == 200
            assert r1.headers["ETag"] != etag
            body1 = await r1.read()
        state = fleet.expected().state
    assert state is not None
    served = {i["sku"]: i["on_hand"] for i in orjson.loads(body1)["items"]}
    assert body0 != body1
    assert {str(k[2]): item.on_hand for k, item in state.inventory.items()} == served


async def test_a_paged_snapshot_follows_link_pages_of_the_current_round() -> None:
    """The feeds file reads the paged endpoint through Link pages; following them gives
    every SKU of the round, and after two advances fewer pages."""
    ep = paged_snapshot("S", items=12, per_page=4)
    async with (
        SupplierFleet(FleetSpec(endpoints=(ep,), hosts=1)) as fleet,
        aiohttp.ClientSession() as http,
    ):
        (feed,) = fleet.feeds_document()["suppliers"][0]["feeds"]
        assert feed["pagination"] == {"style": "link"}
        first = await follow(http, feed["urls"][0])
        fleet.advance()
        fleet.advance()
        last = await follow(http, feed["urls"][0])
    assert [len(p) for p in first] == [4, 4, 4]
    assert [len(p) for p in last] == [4, 4]
    assert [s for p in first for s in p][:8] == [s for p in last for s in p]


async def follow(http: aiohttp.ClientSession, url: str | None) -> list[list[str]]:
    pages = []
    while url:
        async with http.get(url) as response:
            (doc,) = orjson.loads(await response.read())
            pages.append([i["sku"] for i in doc["items"]])
            nxt = response.links.get("next")
            url = str(nxt["url"]) if nxt else None
    return pages


@pytest.mark.parametrize(
    ("fmt", "overlap", "conflicts"), [("x12", "equal", 0), ("json", "conflict", 4)]
)
def test_a_snapshot_split_across_drop_files_is_one_folder_and_one_snapshot(
    tmp_path: Path, fmt: str, overlap: str, conflicts: int
) -> None:
    """Three files of one warehouse lie in one folder (one glob reads them); the truth is
    their union, each file a source, with the copies that lose a conflict counted."""
    parts = split_snapshot("S", fmt, overlap=overlap)  # type: ignore[arg-type]
    batch = DropBatch(FleetSpec(endpoints=parts, hosts=1))
    written = batch.write(tmp_path)
    assert len(written) == 3
    assert len({p.parent for p in written}) == 1
    base = f"file://{tmp_path}"
    (supplier,) = batch.suppliers(base, {})
    assert [feed["urls"] for feed in supplier["feeds"]] == [
        [f"{base}/S/inventory/{fmt}/*{written[0].suffix}"]
    ]
    truth = batch.truth(base)
    assert len(truth.rows("inventory_positions")) == 24
    assert truth.conflicts == ({DocKind.INVENTORY_SNAPSHOT: conflicts} if conflicts else {})
