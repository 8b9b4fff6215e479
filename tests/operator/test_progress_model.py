"""The progress model: totals that count discovered pages, what is on the wire, and an
ETA that waits for hanging requests. Driven by an injected clock, no terminal."""

from __future__ import annotations

from pathlib import Path

import yaml

from supplyfeed._cli.display import status_line
from supplyfeed._config import FeedConfig
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.outcome import AttemptRecord, FetchRequest
from supplyfeed._run.pipeline import RunOptions
from supplyfeed._run.progress import ProgressModel
from supplyfeed._sink.base import Outcome
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim import SupplierFleet
from supplyfeed.sim.paged import paged_feeds_document
from tests.supplier.helpers import QUICK, assert_rows_match, fleet_spec, run
from tests.supplier.test_drops import _drop
from tests.supplier.test_drops import feeds as drop_feeds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _request(n: int) -> FetchRequest:
    return FetchRequest(url=f"http://127.0.0.1:9/feed/{n}", kind="po_ack")


def _fast(model: ProgressModel, clock: Clock, n: int) -> None:
    """Endpoint ``n``: one 50 ms attempt, loaded."""
    req = _request(n)
    model.attempt_started(req, f"r{n}", 1)
    clock.now += 0.05
    model.attempt_finished(req, f"r{n}", AttemptRecord(1, "ok", 200, 0.05))
    model.advance("po_ack", Outcome.LOADED, 3)


def test_eta_waits_for_the_hanging_requests_not_the_rate_of_the_fast_ones() -> None:
    """8 of 10 done in 0.4 s; 2 hang since t=0.5 with a 5 s timeout: at t=2 the ETA is
    their 3.5 s to the timeout (the rate alone says 0.5 s)."""
    clock = Clock()
    model = ProgressModel(timeout=5.0, clock=clock)
    model.start({"po_ack": 10})
    for n in range(8):
        _fast(model, clock, n)
    clock.now = 0.5
    model.attempt_started(_request(8), "r8", 1)
    model.attempt_started(_request(9), "r9", 1)
    clock.now = 2.0
    view = model.view()
    assert (view.done, view.total, view.in_flight, view.retrying) == (8, 10, 2, 0)
    assert view.eta == 3.5
    assert view.slowest is not None
    assert view.slowest.url == _request(8).url
    assert view.slowest.seconds == 1.5


def test_requests_slower_than_usual_but_not_hanging_leave_the_rate_eta() -> None:
    """An attempt in flight for 0.1 s (under the 1 s stall floor) does not move the ETA."""
    clock = Clock()
    model = ProgressModel(timeout=30.0, clock=clock)
    model.start({"po_ack": 4})
    for n in range(2):
        _fast(model, clock, n)
    model.attempt_started(_request(2), "r2", 1)
    clock.now += 0.1
    view = model.view()
    assert view.eta is not None
    assert abs(view.eta - 0.2) < 1e-9
    assert view.in_flight == 1


def test_a_request_waiting_to_retry_counts_as_retrying_and_its_wait_in_the_eta() -> None:
    """A timed-out attempt with a 2 s backoff: retrying 1, nothing in flight, the ETA
    covers the wait plus another timeout; its next attempt puts it back in flight."""
    clock = Clock()
    model = ProgressModel(timeout=3.0, clock=clock)
    model.start({"po_ack": 2})
    _fast(model, clock, 0)
    req = _request(1)
    model.attempt_started(req, "r1", 1)
    clock.now += 3.0
    model.attempt_finished(req, "r1", AttemptRecord(1, "timeout", None, 3.0, 2.0))
    view = model.view()
    assert (view.in_flight, view.retrying) == (0, 1)
    assert view.eta == 5.0
    clock.now += 2.0
    model.attempt_started(req, "r1", 2)
    view = model.view()
    assert (view.in_flight, view.retrying) == (1, 0)
    assert view.slowest is not None
    assert view.slowest.attempt == 2
    assert "retrying 0" in status_line(view)
    assert "(try 2)" in status_line(view)


def test_discovered_pages_raise_the_total() -> None:
    """A paged feed planned as 1 unit that has 4 pages ends at 4/4, never 4/1."""
    model = ProgressModel(clock=Clock())
    model.start({"po_ack": 1})
    model.advance("po_ack", Outcome.LOADED, 1)
    model.discovered("po_ack", 3)
    for _ in range(3):
        model.advance("po_ack", Outcome.LOADED, 1)
    view = model.view()
    assert (view.done, view.total, view.eta) == (4, 4, 0.0)


def test_status_line_names_counts_the_slowest_request_and_the_eta() -> None:
    clock = Clock()
    model = ProgressModel(timeout=10.0, clock=clock)
    model.start({"po_ack": 3})
    _fast(model, clock, 0)
    model.attempt_started(_request(1), "r1", 1)
    clock.now += 2.0
    line = status_line(model.view())
    assert line == (f"in flight 1 | retrying 0 | slowest 2.0 s {_request(1).url} | ETA 8 s"), line


async def test_a_paged_run_ends_with_done_equal_to_total_and_nothing_in_flight() -> None:
    """A real run of paged feeds: the pages found on the way count into the totals, and
    every request the engine started is off the wire at the end."""
    spec = fleet_spec(4, formats=("json",), records=40)
    async with SupplierFleet(spec) as fleet:
        doc = paged_feeds_document(fleet, "next", defaults=QUICK)
        suppliers = parse_feeds(yaml.safe_dump(doc), "fleet.yaml", {}).suppliers
        model = ProgressModel()
        sink = MemorySink()
        summary = await run(suppliers, sink, suppliers[0].config, RunOptions(progress=model))
        await assert_rows_match(sink, fleet.expected())
    view = model.view()
    assert summary.endpoints > 4  # pages beyond the first of each feed
    assert view.done == view.total == summary.endpoints
    assert (view.in_flight, view.retrying) == (0, 0)


async def test_drop_folder_files_count_into_the_totals(tmp_path: Path) -> None:
    """A file:// drop pattern is one feed URL but five files: the totals say 5, and a run
    ends at 5/5 with every file's snapshot loaded."""
    folder = tmp_path / "in"
    _drop(folder, [f"W{i}.json" for i in range(5)])
    model = ProgressModel()
    sink = MemorySink()
    summary = await run(drop_feeds(f"{folder.as_uri()}/*.json"), sink, FeedConfig(),
                        RunOptions(progress=model))  # fmt: skip
    view = model.view()
    assert (view.done, view.total) == (5, 5)
    assert summary.outcomes == {"loaded": 5}
    rows = await sink.table_rows("inventory_positions")
    assert sorted(r["warehouse_id"] for r in rows) == [f"W{i}" for i in range(5)]
