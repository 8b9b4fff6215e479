"""The run's writer: sink calls queued behind each other, and a sink error that stops a run."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Literal

import pytest

from supplyfeed import SinkError
from supplyfeed._run.pipeline import Runner, RunOptions
from supplyfeed._run.progress import NullProgress
from supplyfeed._sink.base import Outcome
from supplyfeed._sink.sqlite import SqliteSink
from supplyfeed.sim import SupplierFleet

from .helpers import assert_rows_match, fleet_spec, run, suppliers_of


async def test_a_full_disk_stops_the_run_with_sink_error_and_resume_loads_the_rest(
    tmp_path: Path,
) -> None:
    """The caller gets the SinkError itself (the CLI turns it into exit 1), not the task
    groups' wrapping; what committed stays, and resume loads the rest exactly once."""
    db = tmp_path / "full.db"
    url = f"sqlite:///{db}"
    async with SqliteSink(url):
        pass  # the schema alone
    with closing(sqlite3.connect(db)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    async with SupplierFleet(fleet_spec(60, records=40)) as fleet:
        suppliers, config = suppliers_of(fleet, batch_size=5)
        async with SqliteSink(url, pragmas={"max_page_count": pages + 12}) as sink:
            runner = Runner(suppliers, sink, config)
            with pytest.raises(SinkError, match="full"):
                await runner.run()
            outcomes = {r.outcome for r in await sink.endpoints(runner.run_id)}
        assert Outcome.PENDING in outcomes  # it did stop part-way
        async with SqliteSink(url) as sink:
            resumed = await run(suppliers, sink, config, RunOptions(run_id=runner.run_id))
            await assert_rows_match(sink, fleet.expected())
            final = {r.outcome for r in await sink.endpoints(runner.run_id)}
    assert resumed.ok
    assert final == {Outcome.LOADED}


class Progress(NullProgress):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def advance(self, kind: str, outcome: Outcome, records: int) -> None:
        self.seen.append(kind)


@pytest.mark.parametrize("worker", ["thread", "process"])
async def test_many_small_batches_in_flight_load_everything_once(
    tmp_path: Path, worker: Literal["thread", "process"]
) -> None:
    """batch_size=1 keeps a second sink call waiting behind the running one all run long:
    every endpoint is loaded once, and progress is reported for each."""
    async with SupplierFleet(fleet_spec(40)) as fleet:
        suppliers, config = suppliers_of(fleet, batch_size=1)
        progress = Progress()
        async with SqliteSink(f"sqlite:///{tmp_path / 'w.db'}", worker=worker) as sink:
            summary = await run(suppliers, sink, config, RunOptions(progress=progress))
            await assert_rows_match(sink, fleet.expected())
    assert summary.outcomes == {"loaded": 40}
    assert len(progress.seen) == 40
