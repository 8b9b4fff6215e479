"""Conflicts reach the operator: `report` (table and --json) and `trace` for either side."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from supplyfeed._cli.main import main
from supplyfeed._models import InventoryItem, InventorySnapshot
from supplyfeed._run.summary import summarize
from supplyfeed._sink.sqlite import SqliteSink

from .sink.helpers import T0, run_record, unit


def _part(qty: int) -> InventorySnapshot:
    return InventorySnapshot(
        supplier_id="SUP",
        warehouse_id="W01",
        as_of=T0,
        items=[InventoryItem(sku="X", on_hand=qty), InventoryItem(sku=f"only-{qty}", on_hand=1)],
    )


async def _two_parts_that_disagree(url: str) -> None:
    units = [
        unit("part-a", [_part(5)], request_id="req-a"),
        unit("part-b", [_part(7)], request_id="req-b"),
    ]
    async with SqliteSink(url) as sink:
        await sink.start_run(run_record(), [u.record.endpoint for u in units])
        await sink.load(units)
        summary = summarize("run-1", await sink.endpoints("run-1"), wall_seconds=1.0,
                            error_rate_threshold=0.02)  # fmt: skip
        summary.conflicts = len(await sink.conflicts("run-1"))
        await sink.finish_run("run-1", "finished", summary.to_dict())


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    asyncio.run(_two_parts_that_disagree(url))
    return url


def test_report_json_counts_and_lists_the_conflict(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --json: the conflict counted, the lost record in its bucket, both sides
    listed with their sources, request ids and values."""
    assert main(["report", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conflicts"] == 1
    assert report["records_by_bucket"]["conflict"] == 1
    assert report["records_loaded"] == 3  # X once, and each part's own SKU
    [c] = report["conflict_details"]
    sides = {c["winner"]["request_id"]: c["winner"], c["loser"]["request_id"]: c["loser"]}
    assert set(sides) == {"req-a", "req-b"}
    assert {sides["req-a"]["values"][0], sides["req-b"]["values"][0]} == {5, 7}
    assert (c["doc_type"], c["line_key"]) == ("inventory_snapshot", "X")


def test_report_table_names_the_conflict(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The table shows the conflict count and one line naming both request ids."""
    assert main(["report", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "conflicts" in out
    [line] = [ln for ln in out.splitlines() if ln.startswith("conflict inventory_snapshot")]
    assert "req-a" in line
    assert "req-b" in line


@pytest.mark.parametrize("request_id", ["req-a", "req-b"])
def test_trace_shows_the_conflicts_a_request_took_part_in(
    db: str, capsys: pytest.CaptureFixture[str], request_id: str
) -> None:
    """From either request id, trace finds the conflict (winner or loser)."""
    assert main(["trace", request_id, "--db", db, "--json"]) == 0
    traced = json.loads(capsys.readouterr().out)
    [c] = traced["conflicts"]
    assert request_id in (c["winner"]["request_id"], c["loser"]["request_id"])
    assert main(["trace", request_id, "--db", db]) == 0
    assert "conflict inventory_snapshot" in capsys.readouterr().out
