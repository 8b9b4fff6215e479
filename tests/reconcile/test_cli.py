"""``supplyfeed reconcile`` through ``main([...])`` on SQLite and PostgreSQL: the --json
shape (pinned field by field), unit conversions from the feeds file, filters, CSV, the
tables, and a bad ``uom:`` table refused with file:line."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from supplyfeed._cli.main import main
from supplyfeed._cli.reconcile import short_reconciliation
from supplyfeed._models import DocKind, PoAck, PoAckLine, ShipNotice, ShipNoticeLine
from supplyfeed._sink.base import Sink

from .helpers import deliver, part

SCHEMA = {
    "positions": ["supplier_id", "warehouse_id", "sku", "on_hand", "available", "uom", "as_of"],
    "totals": ["sku", "uom", "on_hand", "available", "warehouses"],
    "in_transit": ["supplier_id", "asn_number", "po_number", "sku", "quantity", "uom",
                   "ship_date", "expected_delivery"],
    "ack_exceptions": ["supplier_id", "po_number", "line_number", "sku", "ordered_qty",
                       "acked_qty", "line_status", "promised_date", "reason"],
    "stale_partitions": ["supplier_id", "warehouse_id", "as_of", "age_seconds"],
    "findings": ["rule", "severity", "supplier_id", "document", "detail"],
}  # fmt: skip

FEEDS = """\
sink: sqlite:///unused.db
uom:
  CA: {EA: 12}
suppliers:
  - id: SUP
    uom:
      PK: {EA: 6}
    feeds:
      - kind: inventory_snapshot
        format: json
        urls: ["http://127.0.0.1:9/stock"]
"""


async def fill(sink: Sink) -> None:
    """Two fresh warehouses, one stale one, an ASN on its way and a backordered line."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    fresh, old = now - dt.timedelta(seconds=60), now - dt.timedelta(hours=2)
    stock = [
        part("W01", fresh, {"A": 2}, uom="CA"),
        part("W02", fresh, {"A": 5, "B": 3}, uom="EA"),
        part("W03", old, {"B": 1}, uom="PK"),
        part("W04", fresh, {"C": 2}, uom="BX"),  # no conversion: stays BX
    ]
    for n, doc in enumerate(stock):
        await deliver(sink, f"run-inv-{n}", f"stock-{n}", [doc], DocKind.INVENTORY_SNAPSHOT)
    today = now.date()
    line = ShipNoticeLine(line_seq=1, po_number="PO-1", sku="A", shipped_qty=24, uom="EA")
    notice = ShipNotice(supplier_id="SUP", asn_number="ASN-1", ship_date=today,
                        expected_delivery=today + dt.timedelta(days=2), lines=[line])  # fmt: skip
    await deliver(sink, "run-asn", "asn", [notice], DocKind.SHIP_NOTICE)
    lines = [
        PoAckLine(line_number="1", sku="A", ordered_qty=10, acked_qty=10, line_status="accepted"),
        PoAckLine(line_number="2", sku="B", ordered_qty=10, acked_qty=0, line_status="backordered"),
    ]
    ack = PoAck(supplier_id="SUP", po_number="PO-1", ack_number="1", lines=lines)
    await deliver(sink, "run-ack", "ack", [ack], DocKind.PO_ACK)


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["reconcile", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS)
    return path


async def test_json_has_the_documented_keys_and_fields(
    sink: Sink, sink_url: Callable[[], str], feeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: one object, each section's objects with exactly the issue's fields, totals
    in base units where the feeds file converts, per unit otherwise."""
    await fill(sink)
    code, out, _ = await run(capsys, "--db", sink_url(), "--feeds", str(feeds), "--json")
    assert code == 0
    answer: dict[str, list[dict[str, Any]]] = json.loads(out)
    assert list(answer) == list(SCHEMA)
    for key, fields in SCHEMA.items():
        assert all(list(row) == fields for row in answer[key]), key
    totals = {(t["sku"], t["uom"]): (t["on_hand"], t["warehouses"]) for t in answer["totals"]}
    # A: 2 CA (global 12) + 5 EA; B: 3 EA + 1 PK (SUP's 6; W03 is stale but current); C: BX.
    assert totals == {("A", "EA"): (29, 2), ("B", "EA"): (9, 2), ("C", "BX"): (2, 1)}
    assert len(answer["positions"]) == 5
    [transit] = answer["in_transit"]
    assert (transit["asn_number"], transit["quantity"]) == ("ASN-1", 24)
    [exception] = answer["ack_exceptions"]
    assert (exception["line_number"], exception["reason"]) == ("2", "backordered")
    [stale] = answer["stale_partitions"]
    assert stale["warehouse_id"] == "W03"
    assert 7000 < stale["age_seconds"] < 7400


async def test_only_the_sections_asked_for_in_the_answers_order(
    sink: Sink, sink_url: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--only findings,totals: those two keys, in the full answer's order, each the
    same as in the full answer; the terminal shows only their tables."""
    await fill(sink)
    _, full, _ = await run(capsys, "--db", sink_url(), "--json")
    code, out, _ = await run(capsys, "--db", sink_url(), "--json", "--only", "findings,totals")
    assert code == 0
    answer, whole = json.loads(out), json.loads(full)
    assert list(answer) == ["totals", "findings"]
    assert answer == {key: whole[key] for key in answer}
    assert answer["totals"]
    code, out, _ = await run(capsys, "--db", sink_url(), "--only", "in_transit")
    assert code == 0
    assert "ASN-1" in out
    assert "Current stock" not in out


async def test_without_a_conversion_units_are_never_added(
    sink: Sink, sink_url: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No feeds file: A in CA and A in EA are two totals, not 7 of anything."""
    await fill(sink)
    code, out, _ = await run(capsys, "--db", sink_url(), "--json", "--sku", "A")
    assert code == 0
    answer = json.loads(out)
    assert {(t["uom"], t["on_hand"]) for t in answer["totals"]} == {("CA", 2), ("EA", 5)}
    assert {p["warehouse_id"] for p in answer["positions"]} == {"W01", "W02"}
    assert [t["sku"] for t in answer["in_transit"]] == ["A"]
    assert answer["ack_exceptions"] == []


async def test_warehouse_filter_and_csv(
    sink: Sink, sink_url: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--csv --warehouse W02: the positions of W02 only, with a header row."""
    await fill(sink)
    code, out, _ = await run(capsys, "--db", sink_url(), "--csv", "--warehouse", "W02")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["warehouse_id"], r["sku"], r["on_hand"]) for r in rows] == [
        ("W02", "A", "5"),
        ("W02", "B", "3"),
    ]


async def test_the_terminal_shows_each_table(
    sink: Sink, sink_url: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json: a titled table per question, rule findings said to be none."""
    await fill(sink)
    code, out, _ = await run(capsys, "--db", sink_url())
    assert code == 0
    for title in (
        "Current stock",
        "Totals per SKU and unit",
        "In transit",
        "ASN-1",
        "Acknowledgment exceptions",
        "backordered",
        "Stale warehouse feeds",
        "W03",
    ):
        assert title in out  # fmt: skip


def test_a_bad_uom_table_is_refused_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A factor that is not a positive number exits 2 naming feeds.yaml:3 and the key."""
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS.replace("CA: {EA: 12}", "CA: {EA: -1}"))
    db = tmp_path / "x.db"
    assert main(["reconcile", "--feeds", str(path), "--db", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: key 'uom.CA.EA': must be a positive number, got -1" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--db", "memory://"], "reconcile reads a SQL database"),
        (["--in-transit-days", "-1"], "--in-transit-days must be 0 or more, not -1"),
        (["--only", "positions,stock"], "--only takes sections among ack_exceptions, findings"),
        (["--only", "totals", "--csv"], "--only is for --json and the tables"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """The in-process fake has no SQL to ask; a negative day count, a section --only does
    not know and --only with --csv are refused."""
    db = tmp_path / "x.db"
    db.touch()
    assert main(["reconcile", "--db", f"sqlite:///{db}", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


async def test_the_demo_note_ranks_each_warehouse_by_stock(
    sink: Sink, sink_url: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's closing reconciliation lists each warehouse's largest positions first,
    then what is in transit and the acknowledgment exceptions."""
    await fill(sink)
    await short_reconciliation(sink_url(), Console(width=100))
    out = capsys.readouterr().out
    ranked = [line.split()[1:3] for line in out.splitlines() if line.startswith(" SUP ")]
    assert ranked[:5] == [["W01", "A"], ["W02", "A"], ["W02", "B"], ["W03", "B"], ["W04", "C"]]
    assert "Top SKUs per warehouse" in out
    assert "ASN-1" in out
    assert "backordered" in out
