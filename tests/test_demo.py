"""``supplyfeed demo`` twice into one database: the second run finds the fleet unchanged,
but for the PARTS supplier's corrections."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from supplyfeed._cli.demo import PORT_BASE_ENV, DemoPlan, demo_plan
from supplyfeed._cli.main import main
from supplyfeed._sink.factory import open_sink
from supplyfeed.sim import TABLES
from supplyfeed.sim.truth import Delivery, expected_state

from .supplier.helpers import table_keys

HOSTS = 3
DEMO = {
    "endpoints": 60,
    "hosts": HOSTS,
    "records": 4,
    "latency_ms": 2.0,
    "fault_rate": 0.0,
    "seed": 3,
    "formats": "",
}


def _free_port_base(span: int) -> int:
    """A base port below the ephemeral range with ``span`` free ports from it."""
    for base in range(21000, 32000, 97):
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + span):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.skip("no free run of ports below the ephemeral range")


def _argv(db: str) -> list[str]:
    argv = ["demo", "--db", db, "--json"]
    for name, value in DEMO.items():
        if value != "":
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    status = main(argv)
    out = capsys.readouterr().out
    return status, json.loads(out.strip().splitlines()[-1])


def _table_keys(db: str) -> dict[str, list[tuple[Any, ...]]]:
    async def read() -> dict[str, list[tuple[Any, ...]]]:
        sink = open_sink(db, lock=False)
        await sink.open()
        try:
            return await table_keys(sink)
        finally:
            await sink.close()

    return asyncio.run(read())


def _truth(plan: DemoPlan, rounds: range) -> dict[str, frozenset[tuple[Any, ...]]]:
    """The tables docs/contract.md §6 gives after the demo's poll ``rounds`` (PARTS is JSON and CSV,
    read back as generated: no envelope versions, no codes)."""
    deliveries = [
        Delivery(f"{where}{ep.host}{ep.path}", r, ep.documents_at(r))
        for where, eps in (("http", plan.fleet.endpoints), ("drop", plan.drop.endpoints))
        for ep in eps
        for r in rounds
    ]
    return expected_state(deliveries).table_rows()


@pytest.mark.slow
def test_second_demo_run_sees_most_endpoints_unchanged_and_writes_no_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fixed ports keep the endpoints' keys: run two answers mostly 304/same body, and the
    tables hold exactly the fleet's rows (generated fleet and every supplier system): the
    PARTS snapshot's three parts whole, and after run two its corrections (a SKU gone, a
    SKU new)."""
    base = _free_port_base(10 + HOSTS)
    monkeypatch.setenv(PORT_BASE_ENV, str(base))
    db = f"sqlite:///{tmp_path / 'demo.db'}"

    status, first = _run(_argv(db), capsys)
    assert status == 0, first
    after_first = _table_keys(db)
    status, second = _run(_argv(db), capsys)
    assert status == 0, second
    after_second = _table_keys(db)

    plan = demo_plan(argparse.Namespace(**DEMO), base)
    for rows_after, rounds in ((after_first, range(1)), (after_second, range(2))):
        expected = _truth(plan, rounds)
        for table in TABLES:
            rows = rows_after[table]
            duplicated = [k for k, n in Counter(rows).items() if n > 1]
            assert not duplicated, (table, duplicated[:3])
            assert set(rows) == expected[table], table  # nothing lost, nothing unexpected
    corrected = set(after_second["inventory_positions"]) ^ set(after_first["inventory_positions"])
    assert {(k[0], k[1]) for k in corrected} == {("PARTS", "W02"), ("PARTS", "W03")}
    assert len(corrected) == 4  # per corrected snapshot, one SKU gone and one new

    suppliers = {ep.supplier_id for ep in (*plan.fleet.endpoints, *plan.drop.endpoints)}
    assert {"PAGED", "OAUTH", "QUOTA", "BUSY", "SFTP", "PARTS"} <= suppliers
    assert first["outcomes"] == {"loaded": first["endpoints"]}
    assert second["endpoints"] == first["endpoints"]
    unchanged = second["outcomes"].get("unchanged", 0)
    assert unchanged >= 0.8 * second["endpoints"], second["outcomes"]
    assert set(second["outcomes"]) <= {"unchanged", "loaded"}
    assert second["records"] < first["records"] / 4
    assert second["wall_seconds"] > 0
