"""Conditional requests (ETag / If-None-Match) and the body-hash skip."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

import pytest

from supplyfeed._fetch.conditional import Validators, ValidatorStore
from supplyfeed._run.pipeline import RunOptions
from supplyfeed._sink.http_cache import MemoryValidatorStore
from supplyfeed._sink.memory import MemorySink
from supplyfeed._sink.sqlite import SqliteSink
from supplyfeed.sim import Fault, SupplierFleet

from .helpers import assert_rows_match, fleet_spec, run, suppliers_of


async def test_second_run_against_unchanged_fleet_is_all_304() -> None:
    """A second run sends If-None-Match; every endpoint answers 304 and is `unchanged`."""
    spec = fleet_spec(12)
    async with SupplierFleet(spec) as fleet:
        suppliers, config = suppliers_of(fleet)
        sink = MemorySink()
        first = await run(suppliers, sink, config)
        rows_after_first = await assert_rows_match(sink, fleet.expected())
        second = await run(suppliers, sink, config)
        statuses = _statuses(fleet)
        assert await assert_rows_match(sink, fleet.expected()) == rows_after_first
    assert first.outcomes == {"loaded": 12}
    assert second.outcomes == {"unchanged": 12}
    assert second.records == 0
    assert second.bytes == 0
    assert statuses[304] == 12
    assert statuses[200] == 12


async def test_same_body_without_etag_is_unchanged_by_hash() -> None:
    """A server without validators: a body equal to the last loaded one is not decoded."""
    async with SupplierFleet(fleet_spec(6), etags=False) as fleet:
        suppliers, config = suppliers_of(fleet)
        sink = MemorySink()
        await run(suppliers, sink, config)
        second = await run(suppliers, sink, config)
        rows = await assert_rows_match(sink, fleet.expected())
    assert second.outcomes == {"unchanged": 6}
    assert rows > 0


async def test_disabled_conditional_requests_reload_everything() -> None:
    """conditional_requests=false: no If-None-Match is sent and every body is loaded."""
    async with SupplierFleet(fleet_spec(6)) as fleet:
        suppliers, config = suppliers_of(fleet, conditional_requests=False)
        sink = MemorySink()
        await run(suppliers, sink, config)
        second = await run(suppliers, sink, config)
        statuses = _statuses(fleet)
        await assert_rows_match(sink, fleet.expected())
    assert second.outcomes == {"loaded": 6}
    assert statuses[304] == 0


async def test_stale_validators_get_the_full_body() -> None:
    """A stored ETag the server no longer has and a different hash: 200, loaded."""
    store = MemoryValidatorStore()
    async with SupplierFleet(fleet_spec(4)) as fleet:
        suppliers, config = suppliers_of(fleet)
        keys = [f"{s.id}|{f.kind.value}|{u}" for s in suppliers for f in s.feeds for u in f.urls]
        await store.put_validators({k: Validators('"old"', None, "0" * 64) for k in keys})
        sink = MemorySink()
        summary = await run(suppliers, sink, config, RunOptions(http_cache=store))
        await assert_rows_match(sink, fleet.expected())
    assert summary.outcomes == {"loaded": 4}
    assert {v.etag for v in store.entries.values()} != {'"old"'}  # replaced after commit


async def test_quarantined_body_keeps_no_validators() -> None:
    """Validators are stored only after a load commits: a quarantined body is refetched."""
    spec = fleet_spec(3, faults={0: Fault(kind="malformed")}, formats=("json",))
    store = MemoryValidatorStore()
    async with SupplierFleet(spec) as fleet:
        suppliers, config = suppliers_of(fleet)
        sink = MemorySink()
        first = await run(suppliers, sink, config, RunOptions(http_cache=store))
        second = await run(suppliers, sink, config, RunOptions(http_cache=store))
        await assert_rows_match(sink, fleet.expected())
    assert first.outcomes == {"loaded": 2, "quarantined": 1}
    assert second.outcomes == {"unchanged": 2, "quarantined": 1}
    assert len(store.entries) == 2


@pytest.mark.parametrize("worker", ["thread", "process"])
async def test_sqlite_sink_keeps_validators(
    tmp_path: Path, worker: Literal["thread", "process"]
) -> None:
    """sf_http_cache keeps validators across sink instances (i.e. across runs)."""
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    async with SqliteSink(url, worker=worker) as sink:
        assert isinstance(sink, ValidatorStore)
        await sink.put_validators({"k": Validators('"e"', "Mon", "ab")})
        await sink.put_validators({"k2": Validators(None, None, "cd")})
    async with SqliteSink(url, worker=worker) as sink:
        got = await sink.get_validators(["k", "missing", "k2"])
    assert got == {"k": Validators('"e"', "Mon", "ab"), "k2": Validators(None, None, "cd")}


def _statuses(fleet: SupplierFleet) -> Counter[int]:
    total: Counter[int] = Counter()
    for stats in fleet.stats.endpoints.values():
        total.update(stats.statuses)
    return total
